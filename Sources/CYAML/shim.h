#ifndef PARVESTER_CYAML_SHIM_H
#define PARVESTER_CYAML_SHIM_H
#include <yaml.h>
#endif
