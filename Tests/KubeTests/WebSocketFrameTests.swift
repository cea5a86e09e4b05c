import Foundation
import Kube
import Testing

/// RFC 6455 framing, the client's side, fed the way a network feeds it: in chunks of any size, with
/// control frames between the fragments of a message.
@Suite("WebSocket framing")
struct WebSocketFrameTests {
    /// A server's frame (never masked).
    func server(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> Data {
        WebSocketFrameEncoder.frame(opcode, Data(payload), mask: nil, fin: fin)
    }

    func decodeAll(_ stream: Data, chunk: Int) throws -> [WebSocketMessage] {
        var decoder = WebSocketFrameDecoder()
        var messages: [WebSocketMessage] = []
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + chunk)
            decoder.feed(stream.subdata(in: offset..<end))
            offset = end
            while let message = try decoder.next() { messages.append(message) }
        }
        return messages
    }

    @Test func theRFCsMaskedHelloIsEncodedByteForByte() {
        // RFC 6455 5.7: "A single-frame masked text message".
        let frame = WebSocketFrameEncoder.frame(.text, Data("Hello".utf8), mask: [0x37, 0xfa, 0x21, 0x3d])
        #expect([UInt8](frame) == [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
    }

    @Test func clientFramesAreMaskedWithAFreshKey() {
        let a = WebSocketFrameEncoder.clientFrame(.binary, Data(repeating: 0, count: 8))
        let b = WebSocketFrameEncoder.clientFrame(.binary, Data(repeating: 0, count: 8))
        #expect(a[1] & 0x80 != 0 && a.count == 2 + 4 + 8)
        // Zero bytes masked show the key: two frames with the same key are one chance in 2^32.
        #expect(a.subdata(in: 2..<6) != b.subdata(in: 2..<6))
    }

    @Test func theAcceptKeyIsTheRFCs() {
        // RFC 6455 1.3.
        #expect(WebSocketHandshake.accept(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test(arguments: [1, 2, 3, 7, 125, 126, 4096, 1 << 20])
    func fragmentsWithControlFramesBetweenThemReassembleAtAnyChunkSize(chunk: Int) throws {
        let big = (0..<70_000).map { UInt8($0 % 251) }  // a 64-bit length
        let medium = (0..<300).map { UInt8($0 % 7) }    // a 16-bit length
        var stream = Data()
        stream.append(server(.binary, Array("boot".utf8), fin: false))
        stream.append(server(.ping, Array("are you there".utf8)))
        stream.append(server(.continuation, medium, fin: false))
        stream.append(server(.pong, []))
        stream.append(server(.continuation, Array(" log".utf8)))
        stream.append(server(.binary, big))
        stream.append(server(.text, Array("hi".utf8)))
        stream.append(server(.close, [0x03, 0xe8] + Array("VMI is gone".utf8)))
        let messages = try decodeAll(stream, chunk: chunk)
        #expect(messages == [
            .ping(Data("are you there".utf8)),
            .pong(Data()),
            .binary(Data(Array("boot".utf8) + medium + Array(" log".utf8))),
            .binary(Data(big)),
            .text(Data("hi".utf8)),
            .close(code: 1000, reason: "VMI is gone"),
        ])
    }

    @Test func aCloseWithoutAStatusIs1005() throws {
        #expect(try decodeAll(server(.close, []), chunk: 1) == [.close(code: 1005, reason: "")])
    }

    @Test func whatAClientMustRefuse() throws {
        let cases: [(Data, String)] = [
            (WebSocketFrameEncoder.frame(.binary, Data("x".utf8), mask: [1, 2, 3, 4]), "masked"),
            (server(.ping, [], fin: false), "fragmented control"),
            (server(.ping, Array(repeating: 0, count: 126)), "control frame of 126"),
            (server(.continuation, [1]), "continuation frame with no message"),
            (server(.binary, [1], fin: false) + server(.text, [2]), "new message began"),
            (Data([0xC2, 0x00]), "reserved bits"),
            (Data([0x83, 0x00]), "unknown opcode 0x3"),
        ]
        for (bytes, expected) in cases {
            var decoder = WebSocketFrameDecoder()
            decoder.feed(bytes)
            #expect(throws: WebSocketProtocolError.self, "\(expected)") {
                while try decoder.next() != nil {}
            }
            do { while try decoder.next() != nil {} } catch let error as WebSocketProtocolError {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        }
    }

    @Test func anOversizedMessageIsRefusedNotBuffered() throws {
        var decoder = WebSocketFrameDecoder(maximumMessage: 1000)
        decoder.feed(server(.binary, Array(repeating: 1, count: 600), fin: false))
        decoder.feed(server(.continuation, Array(repeating: 1, count: 600)))
        #expect(throws: WebSocketProtocolError.self) { while try decoder.next() != nil {} }
    }

    @Test func aHandshakeAnswerIsCheckedAsTheRFCRequires() throws {
        let handshake = WebSocketHandshake(path: "/x", host: "h:6443", subprotocol: "plain.kubevirt.io")
        let request = String(decoding: handshake.request(token: "tok", userAgent: "t"), as: UTF8.self)
        #expect(request.hasPrefix("GET /x HTTP/1.1\r\nHost: h:6443\r\n") && request.contains("Sec-WebSocket-Key: \(handshake.key)\r\n")
                && request.contains("Sec-WebSocket-Protocol: plain.kubevirt.io\r\n") && request.hasSuffix("\r\n\r\n"))
        let good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(WebSocketHandshake.accept(for: handshake.key))\r\n\r\n"
        let (response, rest) = try #require(WebSocketHandshake.parseHead(Data(good.utf8) + Data([0x82, 0x01, 0x78])))
        #expect(response.status == 101 && rest == Data([0x82, 0x01, 0x78]))
        try handshake.verify(response)
        let wrong = try #require(WebSocketHandshake.parseHead(Data(good.replacingOccurrences(of: WebSocketHandshake.accept(for: handshake.key), with: "AAAA").utf8))).0
        #expect(throws: WebSocketProtocolError.self) { try handshake.verify(wrong) }
        #expect(WebSocketHandshake.parseHead(Data("HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n".utf8)) == nil, "an unfinished head")
    }
}
