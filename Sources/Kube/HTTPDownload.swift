import CCurl
import CCurlShim
import Foundation

/// Downloads a URL with libcurl: redirects followed (at most 10), TLS verified against the system's
/// CAs (or `caFile`), the proxy variables (`https_proxy`, `no_proxy`, ...) honoured as libcurl does.
/// Blocking, so it runs on its own queue.
public enum HTTPDownload {
    private static let queue = DispatchQueue(label: "parvester.download", attributes: .concurrent)

    public static func fetch(_ url: String, caFile: String? = nil, timeout: TimeInterval = 120) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try perform(url, caFile: caFile, timeout: timeout) }) }
        }
    }

    private static func perform(_ url: String, caFile: String?, timeout: TimeInterval) throws -> Data {
        try LibCurlRuntime.ensureInitialised()
        guard let handle = curl_easy_init() else { throw KubeError(.transport, "libcurl could not create a handle") }
        defer { curl_easy_cleanup(handle) }
        let sink = DownloadSink()
        let retained = Unmanaged.passRetained(sink)
        defer { retained.release() }
        var errors = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errors.withUnsafeMutableBufferPointer { buffer in
            _ = parvester_curl_easy_setopt_string(handle, CURLOPT_URL, url)
            _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_MAXREDIRS, 10)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_FAILONERROR, 1)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 15_000)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
            _ = parvester_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
            if let caFile { _ = parvester_curl_easy_setopt_string(handle, CURLOPT_CAINFO, caFile) }
            _ = parvester_curl_easy_setopt_write_function(handle) { data, size, count, user in
                Unmanaged<DownloadSink>.fromOpaque(user!).takeUnretainedValue().data
                    .append(UnsafeRawPointer(data!).assumingMemoryBound(to: UInt8.self), count: size * count)
                return size * count
            }
            _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, retained.toOpaque())
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errors.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let kind: KubeError.Kind = [CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE].contains(code) ? .tls : .transport
            throw KubeError(kind, "cannot download \(url): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)")
        }
        return sink.data
    }
}

private final class DownloadSink {
    var data = Data()
}
