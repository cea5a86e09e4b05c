#ifndef PARVESTER_CCURLSHIM_H
#define PARVESTER_CCURLSHIM_H
#include <curl/curl.h>

// Fixed-signature wrappers for libcurl's variadic calls, which Swift cannot call directly.
CURLcode parvester_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode parvester_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode parvester_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode parvester_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode parvester_curl_easy_setopt_blob(CURL *handle, CURLoption option, struct curl_blob *value);
CURLcode parvester_curl_easy_setopt_write_function(CURL *handle, curl_write_callback callback);
CURLcode parvester_curl_easy_setopt_read_function(CURL *handle, curl_read_callback callback);
CURLcode parvester_curl_easy_setopt_header_function(CURL *handle, curl_write_callback callback);
CURLcode parvester_curl_easy_setopt_xferinfo_function(CURL *handle, curl_xferinfo_callback callback);

CURLcode parvester_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode parvester_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value);
CURLcode parvester_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);
CURLcode parvester_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);
CURLcode parvester_curl_easy_getinfo_socket(CURL *handle, CURLINFO info, curl_socket_t *value);

// CURLVERSION_NOW is a macro alias Swift cannot import.
curl_version_info_data *parvester_curl_version_info_now(void);

CURLMcode parvester_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value);
#endif
