import CLibSSH2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A libssh2 session in non-blocking mode over one socket. Every call that may block goes through
/// `retry`, which repeats it with the same arguments after EAGAIN, waiting on the socket in the
/// direction libssh2 needs, until a deadline.
final class LibSSH2Session {
    let raw: OpaquePointer
    let fd: Int32
    let endpoint: String
    let node: String?

    init(fd: Int32, endpoint: String, node: String?) throws {
        try LibSSH2Runtime.ensureInitialised()
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            throw SSHError(.protocolError, endpoint: endpoint, node: node, "libssh2 could not create a session")
        }
        raw = session
        self.fd = fd
        self.endpoint = endpoint
        self.node = node
        libssh2_session_set_blocking(raw, 0)
    }

    deinit {
        libssh2_session_free(raw)
        close(fd)
    }

    func error(_ kind: SSHError.Kind, _ message: String) -> SSHError {
        SSHError(kind, endpoint: endpoint, node: node, message)
    }

    /// libssh2's own text for its last error.
    var lastErrorMessage: String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(raw, &message, &length, 0)
        let text = message.map { String(cString: $0) } ?? "unknown error"
        return "\(text) (libssh2 error \(code))"
    }

    var lastErrno: Int32 { libssh2_session_last_errno(raw) }

    /// libssh2 errors that mean the peer is gone: its own read timeout, and the socket failing.
    static let lostConnectionErrors: Set<Int32> = [LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_RECV,
                                                   LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_TIMEOUT]

    /// Repeats an int-returning call while it says EAGAIN.
    @discardableResult
    func retry(_ what: String, until deadline: Date, _ call: () -> Int32) throws -> Int32 {
        while true {
            let result = call()
            if result != LIBSSH2_ERROR_EAGAIN { return result }
            try wait(what, until: deadline)
        }
    }

    /// Repeats an ssize_t-returning call (reads, writes) while it says EAGAIN.
    func retry(_ what: String, until deadline: Date, _ call: () -> Int) throws -> Int {
        while true {
            let result = call()
            if result != Int(LIBSSH2_ERROR_EAGAIN) { return result }
            try wait(what, until: deadline)
        }
    }

    /// Repeats a pointer-returning call while it returns NULL with EAGAIN as the session's last error.
    func retry<T>(_ what: String, until deadline: Date, _ call: () -> T?) throws -> T? {
        while true {
            if let result = call() { return result }
            if lastErrno != LIBSSH2_ERROR_EAGAIN { return nil }
            try wait(what, until: deadline)
        }
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on, or the deadline passes.
    func wait(_ what: String, until deadline: Date) throws {
        let remaining = deadline.timeIntervalSinceNow
        if remaining <= 0 { throw error(.timeout, "\(what): no answer in time") }
        let directions = libssh2_session_block_directions(raw)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        _ = poll(&pfd, 1, Int32(min(remaining, 1) * 1000) + 1)
    }
}
