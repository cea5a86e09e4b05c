import SSH

/// Writes each node's RKE2 configuration, atomically and 0600, only where its content differs. A node
/// whose configuration changed is restarted: by the roll when it is in the cluster, else by the start
/// and join phases.
struct PushConfigPhase: Phase {
    let id = "push-config"
    let title = "Push RKE2 config"

    /// What differs on one node: files to write, and a stale join file to remove.
    private struct Changes {
        var files: [RenderedFile] = []
        var removeJoinFile = false
        var isEmpty: Bool { files.isEmpty && !removeJoinFile }
    }

    private func changes(_ context: RunContext, _ node: Node, token: Secret) throws -> Changes {
        let facts = context.facts(node)
        var changes = Changes()
        changes.files = try RKE2ConfigRenderer(inventory: context.inventory).files(for: node, token: token)
            .filter { facts?.fileHashes[$0.path] != SHA256.hex($0.content) }
        // A join file left on a node that now initialises the cluster, or is an agent, would mislead RKE2.
        let expectsJoinFile = node.role == .server && !node.initializesCluster
        changes.removeJoinFile = !expectsJoinFile && facts?.fileHashes[RKE2ConfigRenderer.joinConfigPath] != nil
        return changes
    }

    private func resolveToken(_ context: RunContext) async throws -> Secret? {
        try await context.clusterStep("token") {
            context.setToken(try await TokenResolver.resolve(context))
            return .ok(nil)
        }
        return context.token
    }

    func describe(_ context: RunContext) async throws {
        guard let token = try await resolveToken(context) else { return }
        try await refuseImmutableChanges(context, token: token)
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                let changes = try changes(context, node, token: token)
                guard !changes.isEmpty else { return .unchanged }
                context.markConfigChanged(node)
                var shown: [String] = []
                for file in changes.files {
                    shown.append(try await diff(context, node, file, exists: context.facts(node)?.fileHashes[file.path] != nil))
                }
                if changes.removeJoinFile { shown.append("would remove " + RKE2ConfigRenderer.joinConfigPath) }
                return .changed(shown.joined(separator: ", "))
            }
        }
    }

    func run(_ context: RunContext) async throws {
        guard let token = try await resolveToken(context) else { return }
        try await refuseImmutableChanges(context, token: token)
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                let changes = try changes(context, node, token: token)
                guard !changes.isEmpty else { return .unchanged }
                // A running service reads the files only when restarted: say so on the node first.
                if context.facts(node)?.runsRKE2 == true {
                    try await RestartMarker.set(context, node)
                }
                for file in changes.files { try await context.write(file, to: node) }
                if changes.removeJoinFile {
                    try await context.run(node, "rm -f -- \(ShellQuote.quote(RKE2ConfigRenderer.joinConfigPath))")
                }
                context.markConfigChanged(node)
                return .changed((changes.files.map(\.path) + (changes.removeJoinFile ? ["removed " + RKE2ConfigRenderer.joinConfigPath] : []))
                    .joined(separator: ", "))
            }
        }
        if context.hasFailed(context.inventory.initialServer) {
            throw RunAbort("the initial server's configuration could not be written")
        }
    }

    /// Before any file is written: a running server whose config.yaml would change one of the options a
    /// cluster cannot change stops the run (the options must be equal on all servers, so one server's
    /// file tells).
    private func refuseImmutableChanges(_ context: RunContext, token: Secret) async throws {
        let running = context.healthy(context.inventory.servers).filter { context.facts($0)?.isActive("rke2-server") == true }
        for node in running {
            guard let file = try changes(context, node, token: token).files.first(where: { $0.path == RKE2ConfigRenderer.configPath }),
                  context.facts(node)?.fileHashes[file.path] != nil else { continue }
            let current = String(decoding: try await context.read(file.path, from: node), as: UTF8.self)
            let problems = ImmutableRKE2Options.changes(current: current, next: file.content, file: "\(node.name):\(file.path)")
            if !problems.isEmpty {
                throw RunAbort(problems.joined(separator: "\n") + "\nChange cluster.rke2Config back; nothing was changed")
            }
            return
        }
    }

    /// What `plan` shows for a file: its diff against the node's copy (the token masked by the report).
    private func diff(_ context: RunContext, _ node: Node, _ file: RenderedFile, exists: Bool) async throws -> String {
        guard exists else { return "\(file.path) (new)\n" + LineDiff.unified("", Self.redacted(file.content)) }
        let current = String(decoding: try await context.read(file.path, from: node), as: UTF8.self)
        let (old, new) = (Self.redacted(current), Self.redacted(file.content))
        let tokenNote = old == new ? " (the token changes)" : ""
        return "\(file.path)\(tokenNote)\n" + LineDiff.unified(old, new)
    }

    /// Token lines with their values masked, whatever the token (an old one is not known to the run).
    static func redacted(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let trimmed = line.drop { $0 == " " }
            for key in ["token:", "agent-token:"] where trimmed.hasPrefix(key) {
                return String(line.prefix(line.count - trimmed.count)) + key + " ********"
            }
            return String(line)
        }.joined(separator: "\n")
    }
}
