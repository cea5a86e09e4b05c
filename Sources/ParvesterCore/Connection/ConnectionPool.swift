import SSH

/// The sessions of one run: one per node, opened once and reused by every phase, and one per bastion,
/// shared by the nodes behind it.
public actor ConnectionPool {
    private let settings: ConnectionSettings
    private var nodes: [String: Task<SSHConnection, any Error>] = [:]
    private var bastions: [String: Task<SSHConnection, any Error>] = [:]

    public init(settings: ConnectionSettings) { self.settings = settings }

    /// The node's session, connecting on first use. A failed connect is not cached: asking again retries.
    public func connection(for node: Node) async throws -> SSHConnection {
        if let existing = nodes[node.name] { return try await existing.value }
        let target = try SSHTargetResolver.target(for: node, settings: settings)
        // Recorded before any suspension, so concurrent callers share one connect.
        let task = Task { () throws -> SSHConnection in
            var bastion: SSHConnection?
            if let jump = target.jump { bastion = try await self.bastion(for: jump, options: target.options) }
            return try await SSHConnection.connect(to: target.endpoint, credentials: target.credentials, options: target.options, via: bastion)
        }
        nodes[node.name] = task
        do {
            return try await task.value
        } catch {
            nodes[node.name] = nil
            throw error
        }
    }

    private func bastion(for jump: SSHTarget.JumpTarget, options: SSHOptions) async throws -> SSHConnection {
        if let existing = bastions[jump.key] { return try await existing.value }
        let task = Task { try await SSHConnection.connect(to: jump.endpoint, credentials: jump.credentials, options: options) }
        bastions[jump.key] = task
        do {
            return try await task.value
        } catch {
            bastions[jump.key] = nil
            throw error
        }
    }

    /// Closes nodes first, then the bastions they ran through.
    public func closeAll() async {
        for task in nodes.values { if let connection = try? await task.value { await connection.close() } }
        for task in bastions.values { if let connection = try? await task.value { await connection.close() } }
        nodes = [:]
        bastions = [:]
    }
}
