import SSH

/// The sessions of one run: one per node, opened once and reused by every phase, and one per bastion,
/// shared by the nodes behind it.
public actor ConnectionPool {
    private let settings: ConnectionSettings
    /// Keyed `node:NAME` and `bastion:USER@HOST:PORT`.
    private var sessions: [String: Task<SSHConnection, any Error>] = [:]

    public init(settings: ConnectionSettings) { self.settings = settings }

    /// The node's session, connecting on first use. A failed connect is not cached: asking again retries.
    public func connection(for node: Node) async throws -> SSHConnection {
        let target = try SSHTargetResolver.target(for: node, settings: settings)
        return try await shared("node:\(node.name)") {
            var bastion: SSHConnection?
            if let jump = target.jump { bastion = try await self.bastion(for: jump, options: target.options) }
            return try await SSHConnection.connect(to: target.endpoint, credentials: target.credentials, options: target.options, via: bastion)
        }
    }

    /// A new session to the node; the old one is closed on the side (over a cut network, closing waits).
    public func reconnected(_ node: Node) async throws -> SSHConnection {
        if let old = sessions.removeValue(forKey: "node:\(node.name)") {
            Task { if let connection = try? await old.value { await connection.close() } }
        }
        return try await connection(for: node)
    }

    private func bastion(for jump: SSHTarget.JumpTarget, options: SSHOptions) async throws -> SSHConnection {
        try await shared("bastion:\(jump.key)") {
            try await SSHConnection.connect(to: jump.endpoint, credentials: jump.credentials, options: options)
        }
    }

    /// One connect per key, shared by concurrent callers: the task is recorded before any suspension.
    private func shared(_ key: String, connect: @escaping @Sendable () async throws -> SSHConnection) async throws -> SSHConnection {
        if let existing = sessions[key] { return try await existing.value }
        let task = Task(operation: connect)
        sessions[key] = task
        do {
            return try await task.value
        } catch {
            sessions[key] = nil
            throw error
        }
    }

    /// Closes nodes first, then the bastions they ran through.
    public func closeAll() async {
        let nodesFirst = sessions.sorted { $0.key.hasPrefix("node:") && !$1.key.hasPrefix("node:") }.map(\.value)
        for task in nodesFirst {
            if let connection = try? await task.value { await connection.close() }
        }
        sessions = [:]
    }
}
