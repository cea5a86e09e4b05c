#ifndef PARVESTER_CCURL_SHIM_H
#define PARVESTER_CCURL_SHIM_H
#include <curl/curl.h>
#endif
