import CCurl
import CCurlShim
import Foundation

/// The API server refused the upgrade: its status and the Status message (KubeVirt answers 400 while
/// the VMI is not Running, 404 when there is none).
public struct WebSocketRefused: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public var description: String { "\(status): \(message)" }
}

/// A WebSocket to the Kubernetes API server (KubeVirt's console and VNC subresources). libcurl opens the
/// TCP connection, does TLS with the kubeconfig's CA and client certificate (`CURLOPT_CONNECT_ONLY`)
/// and then only carries bytes (`curl_easy_send` / `curl_easy_recv`); the upgrade request and the
/// framing are this side's (`WebSocketHandshake`, `WebSocketFrameDecoder`).
///
/// Not thread-safe: one loop owns it. `fileDescriptor` is for poll(); call `readAvailable()` whenever
/// poll says it is readable, and also before each poll, since TLS can hold decoded bytes that poll
/// cannot see.
public final class KubeWebSocket: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    public let fileDescriptor: Int32
    private var decoder = WebSocketFrameDecoder()
    private var closed = false

    private init(handle: UnsafeMutableRawPointer, fileDescriptor: Int32, leftover: Data) {
        self.handle = handle
        self.fileDescriptor = fileDescriptor
        decoder.feed(leftover)
    }

    deinit { curl_easy_cleanup(handle) }

    /// Connects, upgrades and verifies the answer. Throws `WebSocketRefused` for an HTTP answer other
    /// than 101, `KubeError` when the server cannot be reached.
    public static func connect(_ credentials: KubeCredentials, path: String, subprotocol: String,
                               timeout: TimeInterval = 15) throws -> KubeWebSocket {
        try LibCurlRuntime.ensureInitialised()
        guard let handle = curl_easy_init() else { throw KubeError(.transport, "libcurl could not create a handle") }
        var owned: UnsafeMutableRawPointer? = handle
        defer { if let owned { curl_easy_cleanup(owned) } }
        let url = credentials.server + path
        func check(_ result: CURLcode, _ what: String) throws {
            if result != CURLE_OK { throw KubeError(.transport, "libcurl refused \(what) (CURLcode \(result.rawValue))") }
        }
        try check(parvester_curl_easy_setopt_string(handle, CURLOPT_URL, url), "the URL \(url)")
        try check(parvester_curl_easy_setopt_long(handle, CURLOPT_CONNECT_ONLY, 1), "CONNECT_ONLY")
        try check(parvester_curl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try check(parvester_curl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(timeout * 1000)), "the connect timeout")
        try CurlTLSOptions.apply(credentials, to: handle)
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code = errorBuffer.withUnsafeMutableBufferPointer { errors in
            _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress)
            let code = curl_easy_perform(handle)
            _ = parvester_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
            return code
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer).isEmpty ? String(cString: curl_easy_strerror(code)) : String(cString: errorBuffer)
            throw KubeError(.transport, "cannot reach \(credentials.server): \(detail)", nothingSent: true)
        }
        var socket: curl_socket_t = -1
        try check(parvester_curl_easy_getinfo_socket(handle, CURLINFO_ACTIVESOCKET, &socket), "the socket")
        let components = URLComponents(string: credentials.server)
        let host = (components?.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost") + (components?.port.map { ":\($0)" } ?? "")
        let handshake = WebSocketHandshake(path: path, host: host, subprotocol: subprotocol)
        let deadline = Date().addingTimeInterval(timeout)
        try sendAll(handle, socket, handshake.request(token: credentials.token, userAgent: KubeHTTPClient.userAgent), deadline: deadline)
        var received = Data()
        var head: (WebSocketHandshake.Response, Data)?
        while head == nil {
            let chunk = try receiveSome(handle, socket, deadline: deadline, what: "the answer to the upgrade")
            guard !chunk.isEmpty else { throw KubeError(.transport, "\(credentials.server) closed the connection before answering the upgrade of \(path)") }
            received.append(chunk)
            head = WebSocketHandshake.parseHead(received)
        }
        guard let (response, rest) = head else { throw KubeError(.transport, "no answer") }
        guard response.status == 101 else {
            var body = rest
            let length = Int(response.headers["content-length"] ?? "") ?? 0
            while body.count < min(length, 65536), let chunk = try? receiveSome(handle, socket, deadline: deadline, what: "the refusal's body"), !chunk.isEmpty {
                body.append(chunk)
            }
            let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
            let message = json?["message"] as? String ?? String(decoding: body.prefix(300), as: UTF8.self)
            throw WebSocketRefused(status: response.status, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        try handshake.verify(response)
        owned = nil
        return KubeWebSocket(handle: handle, fileDescriptor: Int32(socket), leftover: rest)
    }

    /// Sends one message (binary by default) as a single masked frame.
    public func send(_ opcode: WebSocketOpcode, _ payload: Data) throws {
        try Self.sendAll(handle, curl_socket_t(fileDescriptor), WebSocketFrameEncoder.clientFrame(opcode, payload), deadline: Date().addingTimeInterval(30))
    }

    /// Sends a close frame (once); the peer's close, or the connection's end, follows.
    public func close(code: UInt16 = 1000, reason: String = "") {
        guard !closed else { return }
        closed = true
        try? send(.close, WebSocketFrameEncoder.closePayload(code: code, reason: reason))
    }

    /// The messages that have arrived, without waiting: empty when nothing has. A ping is answered with
    /// its pong here (RFC 6455 5.5.2) and also returned. Throws `KubeError(.transport)` when the
    /// connection ended without a close frame, `WebSocketProtocolError` for a broken frame.
    public func readAvailable() throws -> [WebSocketMessage] {
        var messages: [WebSocketMessage] = []
        while true {
            while let message = try decoder.next() {
                if case .ping(let payload) = message { try? send(.pong, payload) }
                messages.append(message)
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            var count = 0
            let code = curl_easy_recv(handle, &buffer, buffer.count, &count)
            if code == CURLE_AGAIN { return messages }
            guard code == CURLE_OK else { throw KubeError(.transport, "the WebSocket connection failed: \(String(cString: curl_easy_strerror(code)))") }
            guard count > 0 else {
                if !messages.isEmpty { return messages }
                throw KubeError(.transport, "the server closed the WebSocket connection without a close frame")
            }
            decoder.feed(Data(buffer[0..<count]))
        }
    }

    private static func sendAll(_ handle: UnsafeMutableRawPointer, _ socket: curl_socket_t, _ data: Data, deadline: Date) throws {
        var offset = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            var sent = 0
            let code = bytes.withUnsafeBufferPointer { curl_easy_send(handle, $0.baseAddress! + offset, bytes.count - offset, &sent) }
            if code == CURLE_AGAIN {
                try wait(socket, events: Int16(POLLOUT), deadline: deadline, what: "room to send")
                continue
            }
            guard code == CURLE_OK else { throw KubeError(.transport, "sending on the WebSocket connection failed: \(String(cString: curl_easy_strerror(code)))") }
            offset += sent
        }
    }

    private static func receiveSome(_ handle: UnsafeMutableRawPointer, _ socket: curl_socket_t, deadline: Date, what: String) throws -> Data {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            var count = 0
            let code = curl_easy_recv(handle, &buffer, buffer.count, &count)
            if code == CURLE_AGAIN {
                try wait(socket, events: Int16(POLLIN), deadline: deadline, what: what)
                continue
            }
            guard code == CURLE_OK else { throw KubeError(.transport, "reading \(what) failed: \(String(cString: curl_easy_strerror(code)))") }
            return Data(buffer[0..<count])
        }
    }

    private static func wait(_ socket: curl_socket_t, events: Int16, deadline: Date, what: String) throws {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { throw KubeError(.timeout, "the API server did not send \(what) in time") }
        var descriptor = pollfd(fd: Int32(socket), events: events, revents: 0)
        _ = poll(&descriptor, 1, Int32(min(left, 1) * 1000))
    }
}
