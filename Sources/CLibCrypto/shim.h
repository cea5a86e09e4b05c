// OpenSSL's libcrypto: the sha256 of files Parvester compares with what nodes hold, and the expiry
// dates of RKE2's certificates (`certs check`).
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/err.h>
