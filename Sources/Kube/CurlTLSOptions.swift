import CCurl
import CCurlShim
import Foundation

/// The kubeconfig's TLS settings on a libcurl handle: the cluster CA as the only trust anchor and the
/// client certificate and key, handed over as in-memory blobs (libcurl copies them: CURL_BLOB_COPY), so
/// no secret is written to a temporary file. Used by every request and by WebSocket connections.
enum CurlTLSOptions {
    static func apply(_ credentials: KubeCredentials, to handle: UnsafeMutableRawPointer) throws {
        func check(_ result: CURLcode, _ what: String) throws {
            if result != CURLE_OK { throw KubeError(.transport, "libcurl refused \(what) (CURLcode \(result.rawValue))") }
        }
        try check(parvester_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, credentials.insecure ? 0 : 1), "peer verification")
        try check(parvester_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, credentials.insecure ? 0 : 2), "host verification")
        // Only the cluster's CA: not the system store, which would also trust public CAs.
        try check(parvester_curl_easy_setopt_string(handle, CURLOPT_CAINFO, nil), "no default CA file")
        try check(parvester_curl_easy_setopt_string(handle, CURLOPT_CAPATH, nil), "no default CA path")
        try withBlob(credentials.certificateAuthority) { blob in
            if var blob { try check(parvester_curl_easy_setopt_blob(handle, CURLOPT_CAINFO_BLOB, &blob), "the cluster CA") }
        }
        try withBlob(credentials.clientCertificate) { blob in
            guard var blob else { return }
            try check(parvester_curl_easy_setopt_blob(handle, CURLOPT_SSLCERT_BLOB, &blob), "the client certificate")
            try check(parvester_curl_easy_setopt_string(handle, CURLOPT_SSLCERTTYPE, "PEM"), "the certificate type")
        }
        try withBlob(credentials.clientKey) { blob in
            guard var blob else { return }
            try check(parvester_curl_easy_setopt_blob(handle, CURLOPT_SSLKEY_BLOB, &blob), "the client key")
            try check(parvester_curl_easy_setopt_string(handle, CURLOPT_SSLKEYTYPE, "PEM"), "the key type")
        }
    }

    private static func withBlob(_ data: Data?, _ body: (curl_blob?) throws -> Void) throws {
        guard let data else { return try body(nil) }
        try data.withUnsafeBytes { bytes in
            try body(curl_blob(data: UnsafeMutableRawPointer(mutating: bytes.baseAddress), len: bytes.count, flags: UInt32(CURL_BLOB_COPY)))
        }
    }
}
