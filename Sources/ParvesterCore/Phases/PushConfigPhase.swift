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
                    if !context.options.dryRun { try await context.write(file, to: node) }
                    changed.append(file.path)
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
        if context.hasFailed(context.inventory.initialServer) {
            throw RunAbort("the initial server's configuration could not be written")
        }
    }
}
