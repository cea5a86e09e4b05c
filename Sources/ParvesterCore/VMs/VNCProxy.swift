import Foundation
import Kube

/// `vm vnc`: a TCP listener on 127.0.0.1 for a VNC viewer; each connection is relayed, byte for byte,
/// to its own WebSocket on the VMI's `vnc` subresource (as `virtctl vnc --proxy-only` does). Only the
/// loopback address: anyone who reaches the port reaches the VM's screen.
public final class VNCProxy: @unchecked Sendable {
    public let stream: VMIStream
    public let port: UInt16
    private let listener: Int32
    public var waitTimeout: TimeInterval = 300

    public init(stream: VMIStream, port: UInt16) throws {
        self.stream = stream
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw VNCProxyError("cannot open a socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw VNCProxyError("cannot listen on 127.0.0.1:\(port): \(reason); choose another --port")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = UInt16(bigEndian: actual.sin_port)
        listener = fd
    }

    deinit { close(listener) }

    /// Accepts viewers until the process ends (or the listener fails), each on a thread of its own.
    public func serve(notice: @escaping @Sendable (String) -> Void) {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE { continue }
                notice("the VNC listener failed: \(String(cString: strerror(errno)))")
                return
            }
            let proxy = self
            Thread.detachNewThread {
                proxy.relay(client, notice: notice)
                close(client)
            }
        }
    }

    private func relay(_ client: Int32, notice: @Sendable (String) -> Void) {
        let socket: KubeWebSocket
        do {
            socket = try stream.connect(timeout: waitTimeout, notice: notice)
        } catch {
            notice("a viewer connected, but the VNC stream could not be opened: \(error)")
            return
        }
        notice("a viewer connected: relaying to \(stream.namespace)/\(stream.name)'s VNC")
        defer { socket.close() }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            do {
                for message in try socket.readAvailable() {
                    switch message {
                    case .binary(let data), .text(let data): try VMConsoleSession.writeAll(client, data)
                    case .close: notice("the VNC stream closed"); return
                    case .ping, .pong: break
                    }
                }
                var descriptors = [pollfd(fd: socket.fileDescriptor, events: Int16(POLLIN), revents: 0),
                                   pollfd(fd: client, events: Int16(POLLIN), revents: 0)]
                _ = poll(&descriptors, 2, 500)
                if descriptors[1].revents != 0 {
                    let count = read(client, &buffer, buffer.count)
                    if count <= 0 { notice("the viewer disconnected"); return }
                    try socket.send(.binary, Data(buffer[0..<count]))
                }
            } catch {
                notice("the VNC relay ended: \(error)")
                return
            }
        }
    }
}

public struct VNCProxyError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
