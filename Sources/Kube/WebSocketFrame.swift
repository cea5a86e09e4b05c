import Foundation

/// RFC 6455's framing, the client's side: frames this side sends are masked (section 5.3), frames the
/// server sends are not, and a message may arrive in fragments with control frames between them
/// (section 5.4). Debian's libcurl 7.88 has no WebSocket support, so this is written here; libcurl only
/// carries the bytes (see `KubeWebSocket`).
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA

    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// What the peer sent, reassembled: a whole data message, or a control frame.
public enum WebSocketMessage: Sendable, Equatable {
    case binary(Data)
    case text(Data)
    case ping(Data)
    case pong(Data)
    /// The close frame's status code (1005 when it had none) and reason.
    case close(code: UInt16, reason: String)
}

public struct WebSocketProtocolError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

public enum WebSocketFrameEncoder {
    /// One frame with FIN set (this side never fragments), masked with `mask` when given (a client must
    /// mask, RFC 6455 5.1; the key comes from a strong source, 10.3).
    public static func frame(_ opcode: WebSocketOpcode, _ payload: Data, mask: [UInt8]?, fin: Bool = true) -> Data {
        var out = Data()
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        switch payload.count {
        case ..<126:
            out.append(maskBit | UInt8(payload.count))
        case ..<65536:
            out.append(maskBit | 126)
            out.append(UInt8(payload.count >> 8))
            out.append(UInt8(payload.count & 0xff))
        default:
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xff)) }
        }
        guard let mask else { out.append(payload); return out }
        precondition(mask.count == 4, "a WebSocket mask is 4 bytes")
        out.append(contentsOf: mask)
        var masked = [UInt8](payload)
        for i in masked.indices { masked[i] ^= mask[i & 3] }
        out.append(contentsOf: masked)
        return out
    }

    /// A client's frame, with a fresh random mask.
    public static func clientFrame(_ opcode: WebSocketOpcode, _ payload: Data) -> Data {
        var generator = SystemRandomNumberGenerator()
        return frame(opcode, payload, mask: (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// A close frame's payload: the status code, then a UTF-8 reason (at most 123 bytes, 5.5).
    public static func closePayload(code: UInt16, reason: String) -> Data {
        var data = Data([UInt8(code >> 8), UInt8(code & 0xff)])
        data.append(Data(reason.utf8.prefix(123)))
        return data
    }
}

/// Takes bytes as they arrive, in chunks of any size, and gives back whole messages. Fails (the
/// connection must then be closed with 1002) where RFC 6455 says a client must: a masked frame from
/// the server, reserved bits with no extension agreed, an unknown opcode, a fragmented or oversized
/// control frame, a continuation with nothing to continue, or a new message in the middle of one.
public struct WebSocketFrameDecoder: Sendable {
    private var buffer = Data()
    private var fragments: (opcode: WebSocketOpcode, data: Data)?
    /// Larger messages are refused rather than buffered without end.
    public var maximumMessage: Int

    public init(maximumMessage: Int = 16 << 20) { self.maximumMessage = maximumMessage }

    public mutating func feed(_ bytes: Data) { buffer.append(bytes) }

    /// The next whole message, or nil when more bytes are needed.
    public mutating func next() throws -> WebSocketMessage? {
        while let (fin, opcode, payload, used) = try parseFrame() {
            buffer.removeFirst(used)
            if opcode.isControl {
                switch opcode {
                case .ping: return .ping(payload)
                case .pong: return .pong(payload)
                default: return Self.close(payload)
                }
            }
            if opcode == .continuation {
                guard var message = fragments else { throw WebSocketProtocolError("a continuation frame with no message to continue") }
                message.data.append(payload)
                guard message.data.count <= maximumMessage else { throw WebSocketProtocolError("a message larger than \(maximumMessage) bytes") }
                if fin { fragments = nil; return Self.message(message.opcode, message.data) }
                fragments = message
                continue
            }
            guard fragments == nil else { throw WebSocketProtocolError("a new message began before the fragmented one ended") }
            if fin { return Self.message(opcode, payload) }
            fragments = (opcode, payload)
        }
        return nil
    }

    private static func message(_ opcode: WebSocketOpcode, _ data: Data) -> WebSocketMessage {
        opcode == .text ? .text(data) : .binary(data)
    }

    private static func close(_ payload: Data) -> WebSocketMessage {
        let bytes = [UInt8](payload)
        guard bytes.count >= 2 else { return .close(code: 1005, reason: "") }
        return .close(code: UInt16(bytes[0]) << 8 | UInt16(bytes[1]), reason: String(decoding: bytes[2...], as: UTF8.self))
    }

    /// (fin, opcode, unmasked payload, bytes used), or nil when the frame is not complete yet.
    private func parseFrame() throws -> (Bool, WebSocketOpcode, Data, Int)? {
        let bytes = buffer
        let start = bytes.startIndex
        guard bytes.count >= 2 else { return nil }
        let first = bytes[start], second = bytes[start + 1]
        guard first & 0x70 == 0 else { throw WebSocketProtocolError("reserved bits set with no extension agreed") }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0f) else {
            throw WebSocketProtocolError("unknown opcode 0x\(String(first & 0x0f, radix: 16))")
        }
        let fin = first & 0x80 != 0
        guard second & 0x80 == 0 else { throw WebSocketProtocolError("the server masked a frame (RFC 6455 5.1 forbids it)") }
        var length = UInt64(second & 0x7f)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = UInt64(bytes[start + 2]) << 8 | UInt64(bytes[start + 3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[start + 2 + $1]) }
            offset = 10
        }
        if opcode.isControl {
            guard fin else { throw WebSocketProtocolError("a fragmented control frame") }
            guard length <= 125 else { throw WebSocketProtocolError("a control frame of \(length) bytes (at most 125)") }
        }
        guard length <= UInt64(maximumMessage) else { throw WebSocketProtocolError("a frame of \(length) bytes (at most \(maximumMessage))") }
        guard bytes.count >= offset + Int(length) else { return nil }
        let payload = bytes.subdata(in: (start + offset)..<(start + offset + Int(length)))
        return (fin, opcode, payload, offset + Int(length))
    }
}
