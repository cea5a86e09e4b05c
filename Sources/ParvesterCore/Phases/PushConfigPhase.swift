import SSH

/// Writes each node's RKE2 configuration, atomically and 0600, only where its content differs. A node
/// whose configuration changed is restarted by the start and join phases.
struct PushConfigPhase: Phase {
    let id = "push-config"
    let title = "Push RKE2 config"

    func run(_ context: RunContext) async throws {
        try await context.clusterStep("token") {
            let token = try await TokenResolver.resolve(context)
            context.setToken(token)
            return .ok(nil)
        }
        guard let token = context.token else { return }
        let renderer = RKE2ConfigRenderer(inventory: context.inventory)
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                let facts = context.facts(node)
                var changed: [String] = []
                for file in try renderer.files(for: node, token: token) where facts?.fileHashes[file.path] != SHA256.hex(file.content) {
                    if context.options.dryRun {
                        changed.append(try await diff(context, node, file, exists: facts?.fileHashes[file.path] != nil))
                    } else {
                        try await context.write(file, to: node)
                        changed.append(file.path)
                    }
                }
                // A join file left on a node that now initialises the cluster, or is an agent, would mislead RKE2.
                let expectsJoinFile = node.role == .server && !node.initializesCluster
                if !expectsJoinFile, facts?.fileHashes[RKE2ConfigRenderer.joinConfigPath] != nil {
                    if !context.options.dryRun {
                        try await context.run(node, "rm -f -- \(ShellQuote.quote(RKE2ConfigRenderer.joinConfigPath))")
                    }
                    changed.append("removed " + RKE2ConfigRenderer.joinConfigPath)
                }
                guard !changed.isEmpty else { return .unchanged }
                context.markConfigChanged(node)
                return .changed(changed.joined(separator: ", "))
            }
        }
        if context.hasFailed(context.inventory.initialServer), !context.options.dryRun {
            throw RunAbort("the initial server's configuration could not be written")
        }
    }

    /// What `plan` shows for a file: its diff against the node's copy (the token masked by the report).
    private func diff(_ context: RunContext, _ node: Node, _ file: RenderedFile, exists: Bool) async throws -> String {
        guard exists else { return "\(file.path) (new)\n" + LineDiff.unified("", Self.redacted(file.content)) }
        let current = String(decoding: try await context.connection(for: node).download(file.path, become: node.ssh.become,
                                                                                        timeout: context.options.commandTimeout), as: UTF8.self)
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
