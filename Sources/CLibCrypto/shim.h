// OpenSSL's libcrypto, for the sha256 of files Parvester compares with what nodes hold.
#include <openssl/evp.h>
