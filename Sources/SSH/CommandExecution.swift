import CLibSSH2
import Foundation

public enum StandardStream: Sendable, Equatable {
    case stdout, stderr
}

/// What a remote command did.
public struct CommandResult: Sendable {
    public var exitStatus: Int32
    /// The signal that ended the command (`TERM`, `KILL`), if one did.
    public var signal: String?
    public var stdout: Data
    public var stderr: Data
    /// Time from sending the request to the channel closing.
    public var duration: TimeInterval

    public init(exitStatus: Int32, signal: String? = nil, stdout: Data = Data(), stderr: Data = Data(), duration: TimeInterval = 0) {
        self.exitStatus = exitStatus
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
    }

    public var succeeded: Bool { exitStatus == 0 && signal == nil }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs one command on an exec channel, feeding stdin and reading stdout and stderr interleaved:
/// reading one stream to the end first deadlocks once the other fills the channel window.
struct ChannelCommand {
    let session: LibSSH2Session
    let command: String
    /// What the user sees in errors (never holds a secret: callers pass a summary).
    let summary: String
    let input: Data?
    let timeout: TimeInterval
    /// How long opening the channel may take: a live sshd answers in milliseconds, so a long wait here
    /// means the node stopped answering, and is reported as that well before the command's own timeout.
    let openTimeout: TimeInterval
    let onLine: (@Sendable (StandardStream, String) -> Void)?

    func run() throws -> CommandResult {
        let started = Date()
        let deadline = Date(timeIntervalSinceNow: timeout)
        let channel = try open(deadline: min(deadline, Date(timeIntervalSinceNow: openTimeout)))
        defer { libssh2_channel_free(channel) }
        do {
            return try execute(channel, deadline: deadline, started: started)
        } catch let error as SSHError where error.kind == .timeout {
            throw session.error(.timeout, "command did not finish within \(formatSeconds(timeout)): \(summary)")
        }
    }

    private func open(deadline: Date) throws -> OpaquePointer {
        let raw = session.raw
        let started = Date()
        do {
            if let channel = try session.retry("opening a channel", until: deadline, {
                libssh2_channel_open_ex(raw, "session", 7, 2 * 1024 * 1024, 32768, nil, 0)
            }) { return channel }
        } catch let error as SSHError where error.kind == .timeout {
            throw session.error(.timeout, "the node stopped answering: no reply within \(formatSeconds(Date().timeIntervalSince(started))) "
                                + "to opening a session for `\(summary)`")
        }
        // libssh2 gives up by itself after 60 s without a packet (LIBSSH2_READ_TIMEOUT), or when the
        // socket fails: both mean the link or the node went away, not that the command is wrong.
        if LibSSH2Session.lostConnectionErrors.contains(session.lastErrno) {
            throw session.error(.disconnected, "the node stopped answering after \(formatSeconds(Date().timeIntervalSince(started))) "
                                + "while opening a session for `\(summary)` (\(session.lastErrorMessage))")
        }
        throw session.error(.channel, "cannot open a channel: \(session.lastErrorMessage)")
    }

    private func execute(_ channel: OpaquePointer, deadline: Date, started: Date) throws -> CommandResult {
        let startup = try session.retry("starting the command", until: deadline) {
            libssh2_channel_process_startup(channel, "exec", 4, command, UInt32(command.utf8.count))
        }
        guard startup == 0 else { throw session.error(.channel, "the server refused to run the command: \(session.lastErrorMessage)") }

        var stdout = Data(), stderr = Data()
        var lines = LineSplitter(onLine: onLine)
        let input = self.input ?? Data()
        var written = 0
        var eofSent = false
        let bufferSize = 256 * 1024
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bufferSize)
        defer { buffer.deallocate() }

        while true {
            var progressed = false
            if written < input.count {
                let n = input.withUnsafeBytes { bytes in
                    libssh2_channel_write_ex(channel, 0, bytes.baseAddress!.advanced(by: written).assumingMemoryBound(to: CChar.self),
                                             min(input.count - written, 64 * 1024))
                }
                if n > 0 { written += n; progressed = true }
                else if n != Int(LIBSSH2_ERROR_EAGAIN) { throw session.error(.channel, "writing the command's input failed: \(session.lastErrorMessage)") }
            } else if !eofSent {
                let r = libssh2_channel_send_eof(channel)
                if r == 0 { eofSent = true; progressed = true }
                else if r != LIBSSH2_ERROR_EAGAIN { throw session.error(.channel, "closing the command's input failed: \(session.lastErrorMessage)") }
            }
            for (stream, id) in [(StandardStream.stdout, Int32(0)), (.stderr, SSH_EXTENDED_DATA_STDERR)] {
                let n = libssh2_channel_read_ex(channel, id, buffer, bufferSize)
                if n > 0 {
                    let chunk = Data(bytes: buffer, count: n)
                    if stream == .stdout { stdout.append(chunk) } else { stderr.append(chunk) }
                    lines.feed(chunk, stream)
                    progressed = true
                } else if n < 0 && n != Int(LIBSSH2_ERROR_EAGAIN) {
                    throw session.error(.disconnected, "reading the command's output failed: \(session.lastErrorMessage)")
                }
            }
            if !progressed {
                if libssh2_channel_eof(channel) == 1 { break }
                try session.wait("waiting for the command", until: deadline)
            }
        }
        lines.finish()
        try session.retry("closing the channel", until: deadline) { libssh2_channel_close(channel) }
        try session.retry("closing the channel", until: deadline) { libssh2_channel_wait_closed(channel) }

        var signalName: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        libssh2_channel_get_exit_signal(channel, &signalName, &signalLength, nil, nil, nil, nil)
        let signal = signalName.map { String(cString: $0) }
        signalName.map { free($0) }
        return CommandResult(exitStatus: libssh2_channel_get_exit_status(channel), signal: signal,
                             stdout: stdout, stderr: stderr, duration: Date().timeIntervalSince(started))
    }
}

/// Turns output chunks into whole lines for a streaming callback, per stream.
struct LineSplitter {
    let onLine: (@Sendable (StandardStream, String) -> Void)?
    private var pending: [StandardStream: Data] = [:]

    init(onLine: (@Sendable (StandardStream, String) -> Void)?) { self.onLine = onLine }

    mutating func feed(_ chunk: Data, _ stream: StandardStream) {
        guard let onLine else { return }
        var buffer = (pending[stream] ?? Data()) + chunk
        while let newline = buffer.firstIndex(of: 0x0A) {
            onLine(stream, String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer = Data(buffer[buffer.index(after: newline)...])
        }
        pending[stream] = buffer
    }

    mutating func finish() {
        guard let onLine else { return }
        for (stream, rest) in pending where !rest.isEmpty { onLine(stream, String(decoding: rest, as: UTF8.self)) }
        pending = [:]
    }
}
