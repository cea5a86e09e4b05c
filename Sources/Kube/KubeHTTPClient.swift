import CCurl
import CCurlShim
import Foundation

/// One HTTP response from the API server.
public struct KubeResponse: Sendable {
    public var status: Int
    public var body: Data
    public var contentType: String
    /// The `Retry-After` header in seconds, when the server sent one (it does on 429s it expects to heal).
    public var retryAfter: TimeInterval?
    /// `Warning` headers (299 "..."): unknown fields on a create, deprecated APIs.
    public var warnings: [String] = []
    /// The request's path, for messages.
    public var path: String = ""

    public init(status: Int, body: Data, contentType: String, retryAfter: TimeInterval? = nil, warnings: [String] = [], path: String = "") {
        self.path = path
        self.status = status
        self.body = body
        self.contentType = contentType
        self.retryAfter = retryAfter
        self.warnings = warnings
    }

    public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
}

/// HTTPS to one Kubernetes API server over libcurl, with the kubeconfig's CA and client certificate
/// handed over as in-memory blobs (no secret is written to a temporary file). Easy handles are pooled
/// and reused, each keeping its TLS connection alive, so concurrent requests run side by side and
/// sequential ones skip the handshake. libcurl blocks, so requests run on a dispatch queue of their
/// own, never on Swift's cooperative threads.
public final class KubeHTTPClient: @unchecked Sendable {
    public let credentials: KubeCredentials
    /// Sent with every request, so the server's audit log and managedFields name the client.
    public static let userAgent = "parvester/\(ParvesterVersion.current)"
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var idle: [UnsafeMutableRawPointer] = []
    private var all: [UnsafeMutableRawPointer] = []

    public init(credentials: KubeCredentials) throws {
        try LibCurlRuntime.ensureInitialised()
        self.credentials = credentials
        queue = DispatchQueue(label: "parvester.kube.\(credentials.server)", attributes: .concurrent)
    }

    deinit {
        for handle in all { curl_easy_cleanup(handle) }
    }

    private func takeHandle() throws -> UnsafeMutableRawPointer {
        try lock.withLock {
            if let handle = idle.popLast() { return handle }
            guard let handle = curl_easy_init() else { throw KubeError(.transport, "libcurl could not create a handle") }
            all.append(handle)
            return handle
        }
    }

    private func giveBack(_ handle: UnsafeMutableRawPointer) { lock.withLock { idle.append(handle) } }

    /// Set once a request has spent all its tries failing to reach the server; cleared by any answer.
    /// While set, requests try once: a run against a dead endpoint fails after one object's retries,
    /// not after every object's.
    private var unreachable = false

    /// Like `request`, but rides out what heals (see `RetryPolicy`), up to `attempts` times, waiting
    /// 0.25 s, 0.5 s, 1 s, ... or what the server's Retry-After asks.
    public func send(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json",
                     accept: String = "application/json", timeout: TimeInterval = 30, attempts: Int = 6) async throws -> KubeResponse {
        var backoff = 0.25
        for attempt in 1...attempts {
            let last = attempt == attempts
            do {
                let response = try await request(method, path, body: body, contentType: contentType, accept: accept, timeout: timeout)
                lock.withLock { unreachable = false }
                guard !last, let wait = RetryPolicy.delay(for: response, method: method, backoff: backoff) else { return response }
                try await Task.sleep(for: .seconds(wait))
            } catch let error as KubeError where RetryPolicy.retries(error, method: method) {
                let givenUp = lock.withLock { unreachable }
                if last || givenUp {
                    lock.withLock { unreachable = true }
                    throw error
                }
                try await Task.sleep(for: .seconds(backoff))
            }
            backoff = min(backoff * 2, 5)
        }
        throw KubeError(.transport, "unreachable")  // the loop returns or throws on its last attempt
    }

    /// Sends one request. `path` starts with `/`. A non-2xx answer is returned, not thrown: callers
    /// decide what a 404 or 409 means. Transport and TLS failures throw.
    public func request(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json",
                        accept: String = "application/json", timeout: TimeInterval = 30) async throws -> KubeResponse {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                continuation.resume(with: Result { try perform(method, path, body: body, contentType: contentType, accept: accept, timeout: timeout) })
            }
        }
    }

    private func perform(_ method: String, _ path: String, body: Data?, contentType: String, accept: String,
                         timeout: TimeInterval) throws -> KubeResponse {
        let handle = try takeHandle()
        defer { giveBack(handle) }
        curl_easy_reset(handle)  // keeps the connection cache; clears the previous request's options
        let url = credentials.server + path
        let sink = ResponseSink()
        let retained = Unmanaged.passRetained(sink)
        defer { retained.release() }

        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        headers = curl_slist_append(headers, "Accept: \(accept)")
        headers = curl_slist_append(headers, "User-Agent: \(Self.userAgent)")
        if body != nil { headers = curl_slist_append(headers, "Content-Type: \(contentType)") }
        if let token = credentials.token { headers = curl_slist_append(headers, "Authorization: Bearer \(token)") }
        headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip for bodies

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = try errorBuffer.withUnsafeMutableBufferPointer { errors in
            do {
                func check(_ result: CURLcode, _ what: String) throws {
                    if result != CURLE_OK { throw KubeError(.transport, "libcurl refused \(what) (CURLcode \(result.rawValue))") }
                }
                try check(parvester_curl_easy_setopt_string(handle, CURLOPT_URL, url), "the URL \(url)")
                try check(parvester_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress), "the error buffer")
                try check(parvester_curl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method), "the method")
                try check(parvester_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
                try check(parvester_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000)), "the timeout")
                try check(parvester_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(min(timeout, 10) * 1000)), "the connect timeout")
                try CurlTLSOptions.apply(credentials, to: handle)
                try check(parvester_curl_easy_setopt_pointer(handle, CURLOPT_HTTPHEADER, headers), "the headers")
                try check(parvester_curl_easy_setopt_write_function(handle, { data, size, count, user in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
                    sink.body.append(UnsafeRawPointer(data!).assumingMemoryBound(to: UInt8.self), count: size * count)
                    return size * count
                }), "the write callback")
                try check(parvester_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, retained.toOpaque()), "the write target")
                try check(parvester_curl_easy_setopt_header_function(handle, { data, size, count, user in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue()
                    sink.header(String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self))
                    return size * count
                }), "the header callback")
                try check(parvester_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, retained.toOpaque()), "the header target")
                return try withBody(body) { bodyPointer, length in
                    if let bodyPointer {
                        try check(parvester_curl_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bodyPointer)), "the body")
                        try check(parvester_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(length)), "the body size")
                    }
                    return curl_easy_perform(handle)
                }
            }
        }
        if code != CURLE_OK {
            let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw transportError(code, message: message, url: url)
        }
        var status = 0
        _ = parvester_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var type: UnsafePointer<CChar>?
        _ = parvester_curl_easy_getinfo_string(handle, CURLINFO_CONTENT_TYPE, &type)
        return KubeResponse(status: status, body: sink.body, contentType: type.map { String(cString: $0) } ?? "",
                            retryAfter: sink.retryAfter, warnings: sink.warnings, path: path)
    }

    private func transportError(_ code: CURLcode, message: String, url: String) -> KubeError {
        let detail = message.isEmpty ? String(cString: curl_easy_strerror(code)) : message
        let host = URL(string: url)?.host ?? url
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION where detail.contains("subject name") || detail.contains("alternative"):
            return KubeError(.tls, "TLS: the API server's certificate does not name \(host) (\(detail)); add \(host) to cluster.tlsSANs and run up again, or use an address the certificate names")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CONNECT_ERROR:
            return KubeError(.tls, "TLS with \(credentials.server) failed: \(detail)")
        case CURLE_OPERATION_TIMEDOUT:
            return KubeError(.timeout, "\(credentials.server) did not answer in time: \(detail)")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
            return KubeError(.transport, "cannot reach \(credentials.server): \(detail)", nothingSent: true)
        default:
            return KubeError(.transport, "cannot reach \(credentials.server): \(detail)")
        }
    }

    private func withBody<T>(_ body: Data?, _ next: (UnsafeRawPointer?, Int) throws -> T) throws -> T {
        guard let body else { return try next(nil, 0) }
        return try body.withUnsafeBytes { try next($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
    }
}

private final class ResponseSink {
    var body = Data()
    var retryAfter: TimeInterval?
    var warnings: [String] = []

    /// One header line. A redirect or a 100 Continue starts a new header block: only the last counts.
    func header(_ line: String) {
        if line.hasPrefix("HTTP/") {
            retryAfter = nil
            warnings = []
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        if name == "retry-after" { retryAfter = TimeInterval(value) }
        if name == "warning" { warnings.append(value) }
    }
}
