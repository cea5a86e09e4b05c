import Foundation
import SSH

/// What phases need from a node: run a command, write a file atomically, read a file. SSH sessions
/// provide it in a run; unit tests give phases a scripted node instead, so that a phase's decisions
/// are tested in `swift test` without root or a lab.
public protocol NodeTransport: Sendable {
    /// The login user (shown by the connect step).
    var loginUser: String { get }
    func execute(_ command: String, become: Bool, timeout: TimeInterval, summary: String?, preamble: String?) async throws -> CommandResult
    func writeFile(_ source: UploadSource, to path: String, mode: Int, become: Bool, createDirectory: Bool, timeout: TimeInterval,
                   progress: TransferProgress?) async throws
    func readFile(_ path: String, become: Bool, timeout: TimeInterval) async throws -> Data
}

/// Hands out one transport per node for a run, and closes them at its end.
public protocol NodeTransportProvider: Sendable {
    func transport(for node: Node) async throws -> any NodeTransport
    /// Drops the node's session (after a network change may have cut it) and opens a new one.
    func reconnect(_ node: Node) async throws -> any NodeTransport
    func closeAll() async
}

extension NodeTransportProvider {
    public func reconnect(_ node: Node) async throws -> any NodeTransport { try await transport(for: node) }
}

extension SSHConnection: NodeTransport {
    public var loginUser: String { user }

    public func execute(_ command: String, become: Bool, timeout: TimeInterval, summary: String?, preamble: String?) async throws -> CommandResult {
        try await run(command, become: become, timeout: timeout, summary: summary, preamble: preamble)
    }

    public func writeFile(_ source: UploadSource, to path: String, mode: Int, become: Bool, createDirectory: Bool, timeout: TimeInterval,
                          progress: TransferProgress?) async throws {
        try await upload(source, to: path, mode: mode, become: become, createDirectory: createDirectory, timeout: timeout, progress: progress)
    }

    public func readFile(_ path: String, become: Bool, timeout: TimeInterval) async throws -> Data {
        try await download(path, become: become, timeout: timeout)
    }
}

extension ConnectionPool: NodeTransportProvider {
    public func transport(for node: Node) async throws -> any NodeTransport { try await connection(for: node) }
    public func reconnect(_ node: Node) async throws -> any NodeTransport { try await reconnected(node) }
}
