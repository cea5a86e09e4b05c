import CLibSSH2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Carries TCP connections through a bastion: each tunnel is a `direct-tcpip` channel of the bastion's
/// session joined to one end of a socket pair; the other end is the socket a node's own session uses.
/// Runs on the bastion's session thread only.
final class TunnelPump {
    private final class Tunnel {
        let channel: OpaquePointer
        let fd: Int32
        let target: String
        var toSocket = Data()
        var toChannel = Data()
        var channelEOF = false
        var socketEOF = false
        var eofSent = false

        init(channel: OpaquePointer, fd: Int32, target: String) {
            self.channel = channel
            self.fd = fd
            self.target = target
        }
    }

    private let session: LibSSH2Session
    private var tunnels: [Tunnel] = []
    private let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 256 * 1024)
    private let bufferSize = 256 * 1024

    init(session: LibSSH2Session) { self.session = session }

    deinit {
        for tunnel in tunnels { shut(tunnel) }
        buffer.deallocate()
    }

    var isActive: Bool { !tunnels.isEmpty }

    /// Opens a channel to host:port as seen from the bastion; returns the socket for the node's session.
    func open(host: String, port: Int, deadline: Date) throws -> Int32 {
        let raw = session.raw
        guard let channel = try session.retry("opening a tunnel to \(endpointText(host, port))", until: deadline, {
            libssh2_channel_direct_tcpip_ex(raw, host, Int32(port), "127.0.0.1", 0)
        }) else {
            throw session.error(.channel, "the bastion could not open a connection to \(endpointText(host, port)): \(session.lastErrorMessage)")
        }
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            libssh2_channel_free(channel)
            throw session.error(.channel, "socketpair(): \(String(cString: strerror(errno)))")
        }
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        tunnels.append(Tunnel(channel: channel, fd: pair[0], target: endpointText(host, port)))
        return pair[1]
    }

    /// Moves whatever can move without blocking, then waits up to `timeout` for more.
    func pump(timeout: Int32) {
        for tunnel in tunnels { step(tunnel) }
        tunnels.removeAll { tunnel in
            let finished = (tunnel.channelEOF && tunnel.socketEOF && tunnel.toSocket.isEmpty && tunnel.toChannel.isEmpty) || tunnel.fd < 0
            if finished { shut(tunnel) }
            return finished
        }
        var fds = [pollfd(fd: session.fd, events: Int16(POLLIN), revents: 0)]
        if libssh2_session_block_directions(session.raw) & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { fds[0].events |= Int16(POLLOUT) }
        for tunnel in tunnels {
            var events: Int16 = 0
            if tunnel.toChannel.isEmpty && !tunnel.socketEOF { events |= Int16(POLLIN) }
            if !tunnel.toSocket.isEmpty { events |= Int16(POLLOUT) }
            fds.append(pollfd(fd: tunnel.fd, events: events, revents: 0))
        }
        _ = poll(&fds, nfds_t(fds.count), timeout)
    }

    private func step(_ t: Tunnel) {
        // bastion channel → node socket
        if t.toSocket.isEmpty && !t.channelEOF {
            let n = libssh2_channel_read_ex(t.channel, 0, buffer, bufferSize)
            if n > 0 {
                t.toSocket.append(UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: n)
            } else if (n == 0 || n == Int(LIBSSH2_ERROR_EAGAIN)) && libssh2_channel_eof(t.channel) == 1 {
                t.channelEOF = true
                shutdown(t.fd, Int32(SHUT_WR))
            } else if n < 0 && n != Int(LIBSSH2_ERROR_EAGAIN) {
                t.channelEOF = true
                t.socketEOF = true
            }
        }
        if !t.toSocket.isEmpty {
            let sent = t.toSocket.withUnsafeBytes { send(t.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if sent > 0 { t.toSocket.removeFirst(sent) }
            else if sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK { t.toSocket = Data(); t.socketEOF = true; t.channelEOF = true }
        }
        // node socket → bastion channel
        if t.toChannel.isEmpty && !t.socketEOF {
            let n = recv(t.fd, buffer, bufferSize, Int32(MSG_DONTWAIT))
            if n > 0 { t.toChannel.append(UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: n) }
            else if n == 0 { t.socketEOF = true }
            else if errno != EAGAIN && errno != EWOULDBLOCK { t.socketEOF = true }
        }
        if !t.toChannel.isEmpty {
            let written = t.toChannel.withUnsafeBytes { libssh2_channel_write_ex(t.channel, 0, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
            if written > 0 { t.toChannel.removeFirst(written) }
            else if written < 0 && written != Int(LIBSSH2_ERROR_EAGAIN) { t.toChannel = Data(); t.socketEOF = true; t.channelEOF = true }
        }
        if t.socketEOF && t.toChannel.isEmpty && !t.eofSent {
            if libssh2_channel_send_eof(t.channel) != LIBSSH2_ERROR_EAGAIN { t.eofSent = true }
        }
    }

    private func shut(_ tunnel: Tunnel) {
        _ = libssh2_channel_close(tunnel.channel)
        _ = libssh2_channel_free(tunnel.channel)
        close(tunnel.fd)
    }
}
