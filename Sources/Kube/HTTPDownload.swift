import CCurl
import CCurlShim
import Foundation

/// Downloads a URL with libcurl: redirects followed (at most 10), TLS verified against the system's
/// CAs (or `caFile`), the proxy variables (`https_proxy`, `no_proxy`, ...) honoured as libcurl does.
/// Blocking, so it runs on its own queue.
public enum HTTPDownload {
    private static let queue = DispatchQueue(label: "parvester.download", attributes: .concurrent)

    /// Bytes received so far and the total the server announced (0 when it did not).
    public typealias Progress = @Sendable (_ received: Int64, _ total: Int64) -> Void

    /// The whole body, in memory: for manifests and other small files.
    public static func fetch(_ url: String, caFile: String? = nil, timeout: TimeInterval = 120) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    let sink = DownloadSink(file: nil)
                    try perform(url, into: sink, caFile: caFile, timeout: timeout, progress: nil)
                    return sink.data
                })
            }
        }
    }

    /// The body streamed into the file at `path` (created or truncated), never held in memory whole:
    /// for release artifacts of hundreds of MiB. Returns the number of bytes written.
    @discardableResult
    public static func download(_ url: String, to path: String, caFile: String? = nil, timeout: TimeInterval = 3600,
                                progress: Progress? = nil) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    guard FileManager.default.createFile(atPath: path, contents: nil),
                          let handle = FileHandle(forWritingAtPath: path) else {
                        throw KubeError(.transport, "cannot write \(path)")
                    }
                    defer { try? handle.close() }
                    let sink = DownloadSink(file: handle)
                    try perform(url, into: sink, caFile: caFile, timeout: timeout, progress: progress)
                    if let failure = sink.writeError { throw KubeError(.transport, "cannot write \(path): \(failure)") }
                    try handle.synchronize()
                    return sink.written
                })
            }
        }
    }

    private static func perform(_ url: String, into sink: DownloadSink, caFile: String?, timeout: TimeInterval,
                                progress: Progress?) throws {
        try LibCurlRuntime.ensureInitialised()
        guard let handle = curl_easy_init() else { throw KubeError(.transport, "libcurl could not create a handle") }
        defer { curl_easy_cleanup(handle) }
        sink.progress = progress
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
                Unmanaged<DownloadSink>.fromOpaque(user!).takeUnretainedValue()
                    .receive(UnsafeRawBufferPointer(start: data, count: size * count))
            }
            _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, retained.toOpaque())
            if progress != nil {
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
                _ = parvester_curl_easy_setopt_xferinfo_function(handle) { user, total, received, _, _ in
                    let sink = Unmanaged<DownloadSink>.fromOpaque(user!).takeUnretainedValue()
                    sink.progress?(Int64(received), Int64(total))
                    return 0
                }
                _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, retained.toOpaque())
            }
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errors.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let kind: KubeError.Kind = [CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE].contains(code) ? .tls : .transport
            throw KubeError(kind, "cannot download \(URLCredentials.redacted(in: url)): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)")
        }
    }
}

/// Where libcurl's write callback puts the body: memory, or a file written as the bytes arrive.
private final class DownloadSink {
    let file: FileHandle?
    var data = Data()
    var written: Int64 = 0
    var writeError: String?
    var progress: HTTPDownload.Progress?

    init(file: FileHandle?) { self.file = file }

    /// What libcurl expects back: the count taken; anything else aborts the transfer.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let file else {
            data.append(contentsOf: bytes)
            return bytes.count
        }
        do {
            try file.write(contentsOf: bytes)
        } catch {
            writeError = "\(error)"
            return 0
        }
        written += Int64(bytes.count)
        return bytes.count
    }
}
