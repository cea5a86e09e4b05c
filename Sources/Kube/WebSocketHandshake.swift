import CLibCrypto
import Foundation

/// The opening handshake (RFC 6455 4.1): the HTTP/1.1 upgrade request, and the checks on the answer a
/// client must make before it sends a frame.
public struct WebSocketHandshake: Sendable {
    public let key: String
    public let path: String
    public let host: String
    public let subprotocol: String

    public init(path: String, host: String, subprotocol: String) {
        var generator = SystemRandomNumberGenerator()
        key = Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
        self.path = path
        self.host = host
        self.subprotocol = subprotocol
    }

    /// The request's bytes. A bearer token goes in the request, which travels inside TLS only.
    public func request(token: String?, userAgent: String) -> Data {
        var lines = ["GET \(path) HTTP/1.1", "Host: \(host)", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Key: \(key)", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: \(subprotocol)",
                     "User-Agent: \(userAgent)"]
        if let token { lines.append("Authorization: Bearer \(token)") }
        return Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// base64(SHA-1(key + the RFC's GUID)): what the server must echo in Sec-WebSocket-Accept.
    public static func accept(for key: String) -> String {
        let input = Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        var size: UInt32 = 0
        _ = EVP_Digest(input, input.count, &digest, &size, EVP_sha1(), nil)
        return Data(digest.prefix(Int(size))).base64EncodedString()
    }

    /// The answer's head, parsed.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]  // lower-cased names
    }

    /// Splits `bytes` at the end of the head: (the response, the bytes after it), or nil when the head
    /// is not complete yet.
    public static func parseHead(_ bytes: Data) -> (Response, Data)? {
        guard let end = bytes.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let text = String(decoding: bytes[bytes.startIndex..<end.lowerBound], as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = statusLine.count >= 2 ? Int(statusLine[1]) ?? 0 : 0
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (Response(status: status, headers: headers), Data(bytes[end.upperBound...]))
    }

    /// What RFC 6455 4.1 requires of a 101 before the connection counts as a WebSocket.
    public func verify(_ response: Response) throws {
        let h = response.headers
        guard h["upgrade"]?.lowercased() == "websocket" else { throw WebSocketProtocolError("the server's 101 lacks Upgrade: websocket") }
        guard h["connection"]?.lowercased().contains("upgrade") == true else { throw WebSocketProtocolError("the server's 101 lacks Connection: Upgrade") }
        guard h["sec-websocket-accept"] == Self.accept(for: key) else {
            throw WebSocketProtocolError("the server's Sec-WebSocket-Accept does not match the key sent")
        }
        if let chosen = h["sec-websocket-protocol"], chosen != subprotocol {
            throw WebSocketProtocolError("the server chose the subprotocol \(chosen), not \(subprotocol)")
        }
    }
}
