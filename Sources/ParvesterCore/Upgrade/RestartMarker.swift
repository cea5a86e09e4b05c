import SSH

/// A file on the node that says "RKE2's configuration changed and the service has not been restarted
/// since". push-config writes it before the new configuration, and the restart removes it, so a run
/// killed in between still restarts the node on the next run (the files then no longer differ).
enum RestartMarker {
    static let path = "/var/lib/parvester/restart-pending"

    static func isPresent(_ facts: NodeFacts?) -> Bool { facts?.fileHashes[path] != nil }

    static func set(_ context: RunContext, _ node: Node) async throws {
        try await context.write(RenderedFile(path: path, content: "rke2 configuration changed; restart pending\n", mode: 0o644, holdsSecret: false), to: node)
    }

    static func clear(_ context: RunContext, _ node: Node) async throws {
        try await context.run(node, "rm -f \(ShellQuote.quote(path))")
        context.update(node) { $0.configChanged = false; $0.facts?.fileHashes[path] = nil }
    }
}

extension RunContext {
    /// The node's service must restart to read its configuration: changed in this run, or in one that
    /// was interrupted before the restart.
    func needsRestart(_ node: Node) -> Bool { configChanged(node) || RestartMarker.isPresent(facts(node)) }
}
