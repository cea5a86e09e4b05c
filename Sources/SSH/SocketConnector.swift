import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opens a TCP connection with a timeout, trying every address a name resolves to (IPv4 and IPv6).
enum SocketConnector {
    static func connect(host: String, port: Int, timeout: TimeInterval, node: String?) throws -> Int32 {
        let endpoint = endpointText(host, port)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = String(cString: gai_strerror(status))
            throw SSHError(.dns, endpoint: endpoint, node: node, "cannot resolve \(host): \(reason)")
        }
        defer { freeaddrinfo(list) }

        let deadline = Date(timeIntervalSinceNow: timeout)
        var lastError: SSHError?
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do {
                return try attempt(info.pointee, deadline: deadline, timeout: timeout, endpoint: endpoint, node: node)
            } catch let error as SSHError {
                lastError = error
            }
        }
        throw lastError ?? SSHError(.unreachable, endpoint: endpoint, node: node, "no usable address")
    }

    private static func attempt(_ info: addrinfo, deadline: Date, timeout: TimeInterval, endpoint: String, node: String?) throws -> Int32 {
        let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
        guard fd >= 0 else { throw SSHError(.unreachable, endpoint: endpoint, node: node, "socket(): \(String(cString: strerror(errno)))") }
        var keep = false
        defer { if !keep { close(fd) } }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))

        if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw error(errno, endpoint: endpoint, node: node, timeout: timeout) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let remaining = Int32(clamping: Int(min(max(0, deadline.timeIntervalSinceNow), 86_400) * 1000))
            let ready = poll(&pfd, 1, remaining)
            if ready == 0 { throw error(ETIMEDOUT, endpoint: endpoint, node: node, timeout: timeout) }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError != 0 { throw error(soError, endpoint: endpoint, node: node, timeout: timeout) }
        }
        keep = true
        return fd
    }

    static func error(_ code: Int32, endpoint: String, node: String?, timeout: TimeInterval) -> SSHError {
        switch code {
        case ECONNREFUSED:
            return SSHError(.refused, endpoint: endpoint, node: node, "connection refused: is sshd running and listening on that port?")
        case ETIMEDOUT:
            return SSHError(.timeout, endpoint: endpoint, node: node, "no answer within \(formatSeconds(timeout)) (host down, or a firewall drops the packets)")
        case EHOSTUNREACH, ENETUNREACH:
            return SSHError(.unreachable, endpoint: endpoint, node: node, "no route to host: \(String(cString: strerror(code)))")
        default:
            return SSHError(.unreachable, endpoint: endpoint, node: node, "cannot connect: \(String(cString: strerror(code)))")
        }
    }
}

func formatSeconds(_ seconds: TimeInterval) -> String {
    seconds < 1 ? "\(Int(seconds * 1000))ms" : (seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds))
}
