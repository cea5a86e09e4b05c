import CCurl
import CCurlShim
import Foundation

/// Streams a disk image to CDI's upload proxy, the way `virtctl image-upload` does: `POST
/// PROXY/v1beta1/upload` with the upload token as a bearer token and the file as the body, read from
/// disk in libcurl's buffer-sized pieces (never the whole file in memory). Blocking, so it runs on a
/// thread of its own.
public struct CDIUploadClient: Sendable {
    /// Where the proxy is, e.g. `https://cdi-uploadproxy.example:443`.
    public let proxyURL: String
    /// PEM of the CA that signed the proxy's certificate; nil: the system's CAs.
    public let certificateAuthority: Data?
    /// Where to connect instead of the URL's host and port, so a NodePort is reached while the
    /// certificate is still checked for the name in the URL (the service's).
    public let connectTo: (host: String, port: Int)?
    /// How many times a refused connection is tried again, a second apart: a NodePort just created
    /// takes a moment to be programmed on the nodes. Nothing has been sent then, so trying again is safe.
    public var connectAttempts = 15

    public typealias Progress = @Sendable (_ sent: Int64, _ total: Int64) -> Void

    private static let queue = DispatchQueue(label: "parvester.cdi-upload", attributes: .concurrent)

    public init(proxyURL: String, certificateAuthority: Data?, connectTo: (host: String, port: Int)? = nil) {
        self.proxyURL = proxyURL.hasSuffix("/") ? String(proxyURL.dropLast()) : proxyURL
        self.certificateAuthority = certificateAuthority
        self.connectTo = connectTo
    }

    /// The proxy as people should see it: its URL, and where it is really reached.
    public var shown: String {
        guard let connectTo else { return proxyURL }
        return "\(proxyURL) (at \(Self.bracketed(connectTo.host)):\(connectTo.port))"
    }

    private static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    /// libcurl's CURLOPT_CONNECT_TO entry, `HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT`, for this URL.
    private var connectToEntry: String? {
        guard let connectTo, let url = URLComponents(string: proxyURL), let host = url.host else { return nil }
        return "\(host):\(url.port ?? 443):\(Self.bracketed(connectTo.host)):\(connectTo.port)"
    }

    /// Uploads `file` with `token`. Throws `.api` with status 401 for a token the proxy refuses, `.transport`
    /// for a connection lost on the way (the DataVolume then waits for another upload).
    public func upload(file: String, token: String, progress: Progress? = nil) async throws {
        var attempt = 1
        while true {
            do {
                return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                    Self.queue.async {
                        continuation.resume(with: Result { try perform(file: file, token: token, progress: progress) })
                    }
                }
            } catch is ConnectionRefused where attempt < connectAttempts {
                attempt += 1
                try await Task.sleep(for: .seconds(1))
            } catch let refused as ConnectionRefused {
                throw refused.error
            }
        }
    }

    /// Nothing was sent: the proxy did not accept the connection.
    private struct ConnectionRefused: Error { let error: KubeError }

    private func perform(file: String, token: String, progress: Progress?) throws {
        try LibCurlRuntime.ensureInitialised()
        guard let input = FileHandle(forReadingAtPath: file) else { throw KubeError(.transport, "cannot read \(file)") }
        defer { try? input.close() }
        let size = Int64((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0)
        guard let handle = curl_easy_init() else { throw KubeError(.transport, "libcurl could not create a handle") }
        defer { curl_easy_cleanup(handle) }
        let state = UploadState(input: input, progress: progress, total: size)
        let retained = Unmanaged.passRetained(state)
        defer { retained.release() }

        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        headers = curl_slist_append(headers, "Authorization: Bearer \(token)")
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream")
        // Expect: 100-continue, so a proxy that refuses the token says so before the image is sent.
        headers = curl_slist_append(headers, "Expect: 100-continue")
        var connectVia: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(connectVia) }
        if let connectToEntry { connectVia = curl_slist_append(nil, connectToEntry) }

        let url = proxyURL + "/v1beta1/upload"
        var errors = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errors.withUnsafeMutableBufferPointer { buffer in
            withCABlob { ca in
                _ = parvester_curl_easy_setopt_string(handle, CURLOPT_URL, url)
                _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_POST, 1)
                _ = parvester_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(size))
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 15_000)
                // No overall timeout (images take as long as they take), but a stalled transfer fails.
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, 60)
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
                _ = parvester_curl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
                if var ca {
                    _ = parvester_curl_easy_setopt_string(handle, CURLOPT_CAINFO, nil)
                    _ = parvester_curl_easy_setopt_string(handle, CURLOPT_CAPATH, nil)
                    _ = parvester_curl_easy_setopt_blob(handle, CURLOPT_CAINFO_BLOB, &ca)
                }
                _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_HTTPHEADER, headers)
                if connectVia != nil { _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_CONNECT_TO, connectVia) }
                _ = parvester_curl_easy_setopt_read_function(handle) { buffer, size, count, user in
                    Unmanaged<UploadState>.fromOpaque(user!).takeUnretainedValue().read(into: buffer!, capacity: size * count)
                }
                _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_READDATA, retained.toOpaque())
                _ = parvester_curl_easy_setopt_write_function(handle) { data, size, count, user in
                    let state = Unmanaged<UploadState>.fromOpaque(user!).takeUnretainedValue()
                    if state.answer.count < 4096 { state.answer.append(UnsafeRawPointer(data!).assumingMemoryBound(to: UInt8.self), count: size * count) }
                    return size * count
                }
                _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, retained.toOpaque())
                if progress != nil {
                    _ = parvester_curl_easy_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
                    _ = parvester_curl_easy_setopt_xferinfo_function(handle) { user, _, _, _, sent in
                        let state = Unmanaged<UploadState>.fromOpaque(user!).takeUnretainedValue()
                        state.progress?(Int64(sent), state.total)
                        return 0
                    }
                    _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_XFERINFODATA, retained.toOpaque())
                }
                return curl_easy_perform(handle)
            }
        }
        if let failure = state.readError { throw KubeError(.transport, "cannot read \(file): \(failure)") }
        var status = 0
        _ = parvester_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let answer = String(decoding: state.answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if code != CURLE_OK, status < 300 {  // no final answer (0, or only 100 Continue), or a 2xx cut short
            let detail = String(decoding: errors.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let kind: KubeError.Kind = [CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE].contains(code) ? .tls : .transport
            let error = KubeError(kind, "uploading to \(shown) failed after \(state.sent) of \(size) bytes: \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)")
            if code == CURLE_COULDNT_CONNECT && state.sent == 0 { throw ConnectionRefused(error: error) }
            throw error
        }
        switch status {
        case 200..<300: return
        case 401, 403:
            throw KubeError(.api, "the upload proxy \(shown) refused the upload token (\(status)\(answer.isEmpty ? "" : ": \(answer)")): it expired or is not for this DataVolume; run again for a new one",
                            status: status, reason: "Unauthorized")
        default:
            throw KubeError(.api, "the upload proxy \(shown) answered \(status)\(answer.isEmpty ? "" : ": \(answer)")", status: status)
        }
    }

    private func withCABlob<T>(_ body: (curl_blob?) -> T) -> T {
        guard let certificateAuthority else { return body(nil) }
        return certificateAuthority.withUnsafeBytes { bytes in
            body(curl_blob(data: UnsafeMutableRawPointer(mutating: bytes.baseAddress), len: bytes.count, flags: UInt32(CURL_BLOB_COPY)))
        }
    }
}

/// The upload's file and counters, handed to libcurl's callbacks.
private final class UploadState {
    let input: FileHandle
    let progress: CDIUploadClient.Progress?
    let total: Int64
    var sent: Int64 = 0
    var answer = Data()
    var readError: String?

    init(input: FileHandle, progress: CDIUploadClient.Progress?, total: Int64) {
        self.input = input
        self.progress = progress
        self.total = total
    }

    /// libcurl's read callback: the next bytes of the file, 0 at its end, abort on a read error.
    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        do {
            guard let chunk = try input.read(upToCount: capacity), !chunk.isEmpty else { return 0 }
            chunk.copyBytes(to: UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: chunk.count)
            sent += Int64(chunk.count)
            return chunk.count
        } catch {
            readError = "\(error)"
            return Int(CURL_READFUNC_ABORT)
        }
    }
}
