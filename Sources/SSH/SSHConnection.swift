import CLibSSH2
import Foundation

/// Where to connect: an address and port, and the inventory's name for the node (for messages).
public struct SSHEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var name: String?

    public init(host: String, port: Int = 22, name: String? = nil) {
        self.host = host
        self.port = port
        self.name = name
    }

    public var text: String { endpointText(host, port) }
}

public struct SSHOptions: Sendable {
    public var connectTimeout: TimeInterval
    public var knownHostsPath: String
    public var hostKeyPolicy: HostKeyPolicy
    /// Seconds between keepalives while the session idles.
    public var keepaliveInterval: TimeInterval
    /// For sudo when it asks for one; sent on the command's stdin, never on its command line.
    public var sudoPassword: String?
    public static let sudoPasswordVariable = "PARVESTER_BECOME_PASSWORD"

    public init(connectTimeout: TimeInterval = 10, knownHostsPath: String = UserHome.path + "/.ssh/known_hosts",
                hostKeyPolicy: HostKeyPolicy = .strict, keepaliveInterval: TimeInterval = 15, sudoPassword: String? = nil) {
        self.connectTimeout = connectTimeout
        self.knownHostsPath = knownHostsPath
        self.hostKeyPolicy = hostKeyPolicy
        self.keepaliveInterval = keepaliveInterval
        self.sudoPassword = sudoPassword
    }
}

/// One authenticated SSH session to one node, kept for a whole run. All its libssh2 work happens on
/// its own thread; the async methods suspend the caller instead of blocking a pool thread.
public final class SSHConnection: @unchecked Sendable {
    public let endpoint: SSHEndpoint
    public let user: String
    private let options: SSHOptions
    private let thread: SessionThread

    // Touched only on `thread`.
    private var session: LibSSH2Session?
    /// Set (on the session thread) once the node stopped answering: later work fails at once.
    private var lost: SSHError?
    private var sftpClient: SFTPClient?
    private var tunnels: TunnelPump?
    private var sudo: SudoMode = .unknown

    private enum SudoMode {
        case unknown, passwordless, password(String)
    }

    private init(endpoint: SSHEndpoint, user: String, options: SSHOptions) {
        self.endpoint = endpoint
        self.user = user
        self.options = options
        thread = SessionThread(name: "ssh \(endpoint.name ?? endpoint.text)")
    }

    /// Without close(), the thread still ends (and the socket closes with the session).
    deinit { thread.stop() }

    /// Connects, checks the host key, and logs in. Through `bastion` when given: the session then runs
    /// over a channel of the bastion's session, and both host keys are checked.
    public static func connect(to endpoint: SSHEndpoint, credentials: SSHCredentials, options: SSHOptions,
                               via bastion: SSHConnection? = nil) async throws -> SSHConnection {
        let connection = SSHConnection(endpoint: endpoint, user: credentials.user, options: options)
        let gateKey = bastion.map { "\($0.endpoint.text)→\(endpoint.host)" } ?? endpoint.host
        await ConnectGate.shared.enter(gateKey)
        do {
            let tunnel: Int32?
            if let bastion {
                tunnel = try await bastion.openTunnel(host: endpoint.host, port: endpoint.port, for: endpoint)
            } else {
                tunnel = nil
            }
            try await connection.thread.perform { try connection.establish(credentials: credentials, tunnel: tunnel) }
            await ConnectGate.shared.leave(gateKey)
            return connection
        } catch {
            await ConnectGate.shared.leave(gateKey)
            connection.thread.stop()
            throw error
        }
    }

    private func establish(credentials: SSHCredentials, tunnel: Int32?) throws {
        let fd = try tunnel ?? SocketConnector.connect(host: endpoint.host, port: endpoint.port,
                                                       timeout: options.connectTimeout, node: endpoint.name)
        let session = try LibSSH2Session(fd: fd, endpoint: endpoint.text, node: endpoint.name)
        let deadline = Date(timeIntervalSinceNow: max(options.connectTimeout, 10))
        let handshake = try session.retry("SSH handshake", until: deadline) { libssh2_session_handshake(session.raw, fd) }
        guard handshake == 0 else {
            throw session.error(.protocolError, "SSH handshake failed: \(session.lastErrorMessage)")
        }
        try HostKeyVerifier(knownHostsPath: options.knownHostsPath, policy: options.hostKeyPolicy)
            .verify(session, host: endpoint.host, port: endpoint.port)
        try Authenticator(credentials: credentials, deadline: deadline).authenticate(session)
        // Keepalives only now: enabling them before the handshake breaks libssh2 1.10's key exchange.
        libssh2_keepalive_config(session.raw, 1, UInt32(max(1, options.keepaliveInterval)))
        self.session = session
        thread.idleInterval = options.keepaliveInterval
        // weak: a connection dropped without close() must not be touched by its idle timer.
        thread.idleWork = { [weak self] in self?.idle() }
    }

    /// Between jobs: move tunnel traffic when this is a bastion, else keep the session alive.
    private func idle() {
        guard let session else { return }
        if let tunnels, tunnels.isActive {
            tunnels.pump(timeout: 20)
            thread.idleInterval = 0
        } else {
            var next: Int32 = 0
            _ = libssh2_keepalive_send(session.raw, &next)
            thread.idleInterval = options.keepaliveInterval
        }
    }

    private func live() throws -> LibSSH2Session {
        guard let session else { throw SSHError(.disconnected, endpoint: endpoint.text, node: endpoint.name, "the connection is closed") }
        if let lost {
            // Waiting again on a node that already stopped answering would only repeat the same long wait.
            throw SSHError(lost.kind, endpoint: lost.endpoint, node: lost.node, "skipped: the node stopped answering earlier in this run (\(lost.message))")
        }
        return session
    }

    /// Opening a channel on a live session takes milliseconds; three connect timeouts (30 s by default)
    /// is a node that stopped answering.
    private var channelOpenTimeout: TimeInterval { max(10, options.connectTimeout * 3) }

    /// Runs session work, remembering a lost connection (a timeout or a dead socket) so that later work
    /// on this node fails at once instead of waiting out its own timeout.
    private func remembering<T>(_ work: () throws -> T) throws -> T {
        do {
            return try work()
        } catch let error as SSHError where error.kind == .timeout || error.kind == .disconnected {
            lost = error
            throw error
        }
    }

    // MARK: - Commands

    /// Runs a shell command line. With `become`, a non-root user runs it through sudo (its password,
    /// when sudo wants one, goes through stdin). `summary` replaces the command in error messages.
    /// `preamble` runs first as the login user, outside sudo (which clears variables such as
    /// SSH_CONNECTION), in the same round trip.
    public func run(_ command: String, become: Bool = false, input: Data? = nil, timeout: TimeInterval = 120,
                    summary: String? = nil, preamble: String? = nil,
                    onLine: (@Sendable (StandardStream, String) -> Void)? = nil) async throws -> CommandResult {
        try await thread.perform { [self] in
            try runOnThread(command, become: become, input: input, timeout: timeout, summary: summary, preamble: preamble, onLine: onLine)
        }
    }

    private func runOnThread(_ command: String, become: Bool, input: Data?, timeout: TimeInterval,
                             summary: String?, preamble: String? = nil, onLine: (@Sendable (StandardStream, String) -> Void)?) throws -> CommandResult {
        let session = try live()
        func execute(_ line: String, _ stdin: Data?) throws -> CommandResult {
            try remembering {
                try ChannelCommand(session: session, command: preamble.map { "\($0)\n\(line)" } ?? line, summary: summary ?? command,
                                   input: stdin, timeout: timeout, openTimeout: channelOpenTimeout, onLine: onLine).run()
            }
        }
        guard become, user != "root" else { return try execute(command, input) }
        let passwordless = "sudo -n -- sh -c \(ShellQuote.quote(command))"
        switch sudo {
        case .passwordless:
            return try execute(passwordless, input)
        case .unknown:
            // Optimistic: most nodes allow NOPASSWD, and `sudo -n` refuses before running anything, so
            // trying it first saves a separate `sudo -n true` round trip per node.
            let result = try execute(passwordless, input)
            let refusal = result.stderrText
            if result.exitStatus == 1, refusal.hasPrefix("sudo: ") && refusal.contains("password is required") {
                guard let password = options.sudoPassword else {
                    throw session.error(.become, "sudo needs a password for \(user): set \(SSHOptions.sudoPasswordVariable) (it is sent on stdin, never on a command line), or allow NOPASSWD")
                }
                sudo = .password(password)
                return try runWithPassword(password)
            }
            if result.exitStatus == 127, refusal.contains("sudo: not found") || refusal.contains("sudo: command not found") {
                throw session.error(.become, "sudo is not installed; install it, or log in as root")
            }
            sudo = .passwordless
            return result
        case .password(let password):
            return try runWithPassword(password)
        }

        func runWithPassword(_ password: String) throws -> CommandResult {
            // -k: always ask, so the password line is never left over as the command's own input.
            let line = "sudo -S -k -p '' -- sh -c \(ShellQuote.quote(command))"
            let result = try execute(line, Data((password + "\n").utf8) + (input ?? Data()))
            if !result.succeeded, result.stderrText.contains("incorrect password") || result.stderrText.contains("Sorry, try again") {
                throw session.error(.become, "sudo refused the password given in \(SSHOptions.sudoPasswordVariable)")
            }
            return result
        }
    }

    // MARK: - Files

    /// Writes a file atomically: the bytes go to a temporary name, which is renamed over the target only
    /// once complete, so an interrupted transfer leaves the old file as it was. With `become`, a
    /// non-root user stages the file in /tmp (mode 0600) and sudo installs it.
    public func upload(_ source: UploadSource, to path: String, mode: Int, owner: String? = nil, become: Bool = false,
                       createDirectory: Bool = false, timeout: TimeInterval = 600, progress: TransferProgress? = nil) async throws {
        try await thread.perform { [self] in
            try uploadOnThread(source, to: path, mode: mode, owner: owner, become: become, createDirectory: createDirectory,
                               timeout: timeout, progress: progress)
        }
    }

    private func uploadOnThread(_ source: UploadSource, to path: String, mode: Int, owner: String?, become: Bool,
                                createDirectory: Bool, timeout: TimeInterval, progress: TransferProgress?) throws {
        let session = try live()
        try remembering { try uploadOnSession(session, source, to: path, mode: mode, owner: owner, become: become,
                                              createDirectory: createDirectory, timeout: timeout, progress: progress) }
    }

    private func uploadOnSession(_ session: LibSSH2Session, _ source: UploadSource, to path: String, mode: Int, owner: String?, become: Bool,
                                 createDirectory: Bool, timeout: TimeInterval, progress: TransferProgress?) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        let sftp = try sftp(session, deadline: deadline)
        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let octal = String(mode, radix: 8)
        let staging = become && user != "root"
        let quotedTarget = ShellQuote.quote(path)

        if createDirectory {
            let made = try runOnThread("mkdir -p -- \(ShellQuote.quote(directory.isEmpty ? "." : directory))", become: become,
                                       input: nil, timeout: 60, summary: nil, onLine: nil)
            guard made.succeeded else { throw session.error(.sftp, "cannot create \(directory): \(made.stderrText.trimmed)") }
        }

        let temporary = staging ? "/tmp/.parvester-upload-\(token)" : "\(directory.isEmpty ? "." : directory)/.\(base).parvester-\(token)"
        do {
            try sftp.write(source, to: temporary, mode: staging ? 0o600 : mode, deadline: deadline, progress: progress)
        } catch {
            sftp.unlink(temporary, deadline: Date(timeIntervalSinceNow: 10))
            throw error
        }
        // A new file needs no command: SFTP's own rename puts it in place. Replacing one does (`mv -f`),
        // as SFTP v3 will not rename over an existing file.
        if !staging, owner == nil, sftp.renameIfAbsent(temporary, to: path, deadline: deadline) { return }
        let quotedTemporary = ShellQuote.quote(temporary)
        let finish: String
        if staging {
            let next = ShellQuote.quote("\(path).parvester-\(token)")
            let ownership = owner.map { owner -> String in
                let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
                return " -o \(ShellQuote.quote(parts[0]))" + (parts.count > 1 ? " -g \(ShellQuote.quote(parts[1]))" : "")
            } ?? ""
            finish = "install -m \(octal)\(ownership) -- \(quotedTemporary) \(next) && mv -f -- \(next) \(quotedTarget); rc=$?; rm -f -- \(quotedTemporary); exit $rc"
        } else {
            let chown = owner.map { "chown -- \(ShellQuote.quote($0)) \(quotedTemporary) && " } ?? ""
            finish = "chmod \(octal) -- \(quotedTemporary) && \(chown)mv -f -- \(quotedTemporary) \(quotedTarget) || { rc=$?; rm -f -- \(quotedTemporary); exit $rc; }"
        }
        let result = try runOnThread(finish, become: staging, input: nil, timeout: 60, summary: "install \(path)", onLine: nil)
        guard result.succeeded else {
            if staging { sftp.unlink(temporary, deadline: Date(timeIntervalSinceNow: 10)) }
            throw session.error(.sftp, "cannot put \(path) in place: \(result.stderrText.trimmed)")
        }
    }

    /// Reads a remote file (through sudo with `become` for a non-root user).
    public func download(_ path: String, become: Bool = false, timeout: TimeInterval = 600) async throws -> Data {
        try await thread.perform { [self] in
            let session = try live()
            if become && user != "root" {
                let result = try runOnThread("cat -- \(ShellQuote.quote(path))", become: true, input: nil, timeout: timeout, summary: nil, onLine: nil)
                guard result.succeeded else { throw session.error(.sftp, "cannot read \(path): \(result.stderrText.trimmed)") }
                return result.stdout
            }
            let deadline = Date(timeIntervalSinceNow: timeout)
            return try sftp(session, deadline: deadline).read(path, deadline: deadline)
        }
    }

    private func sftp(_ session: LibSSH2Session, deadline: Date) throws -> SFTPClient {
        if let sftpClient { return sftpClient }
        let client = try SFTPClient(session: session, deadline: deadline)
        sftpClient = client
        return client
    }

    // MARK: - Bastion

    func openTunnel(host: String, port: Int, for target: SSHEndpoint) async throws -> Int32 {
        try await thread.perform { [self] in
            let session = try live()
            if tunnels == nil { tunnels = TunnelPump(session: session) }
            let fd = try tunnels!.open(host: host, port: port, deadline: Date(timeIntervalSinceNow: options.connectTimeout))
            thread.idleInterval = 0  // start pumping at once
            return fd
        }
    }

    // MARK: - Closing

    /// Ends the session politely and stops its thread. Safe to call twice.
    public func close() async {
        _ = try? await thread.perform { [self] in
            sftpClient = nil
            tunnels = nil
            if let session {
                let deadline = Date(timeIntervalSinceNow: 2)
                _ = try? session.retry("disconnecting", until: deadline) {
                    libssh2_session_disconnect_ex(session.raw, SSH_DISCONNECT_BY_APPLICATION, "bye", "")
                }
            }
            session = nil
            thread.idleWork = nil
        }
        thread.stop()
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
