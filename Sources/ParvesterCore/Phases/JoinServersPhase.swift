/// Joins the other servers one at a time, each Ready in the API before the next: etcd adds one member
/// at a time, and concurrent server joins break it.
struct JoinServersPhase: Phase {
    let id = "join-servers"
    let title = "Join servers, one at a time"

    func run(_ context: RunContext) async throws {
        for node in context.healthy(context.inventory.joiningServers) {
            await context.step(id, node) {
                if context.options.dryRun { return DryRun.service(context, node, unit: "rke2-server") }
                let done = try await ServiceStarter.ensureRunning(context, node, unit: "rke2-server", restart: context.configChanged(node))
                try await NodeReadiness.wait(context, for: [node.name])
                return done
            }
        }
    }
}

/// Starts agents in parallel, in batches of at most `Planner.agentBatchSize`.
struct JoinAgentsPhase: Phase {
    let id = "join-agents"
    let title = "Join agents"

    func run(_ context: RunContext) async throws {
        let agents = context.healthy(context.inventory.agents)
        for start in stride(from: 0, to: agents.count, by: Planner.agentBatchSize) {
            let batch = Array(agents[start..<min(start + Planner.agentBatchSize, agents.count)])
            await context.forEach(batch, width: Planner.agentBatchSize) { node in
                await context.step(id, node) {
                    if context.options.dryRun { return DryRun.service(context, node, unit: "rke2-agent") }
                    return try await ServiceStarter.ensureRunning(context, node, unit: "rke2-agent", restart: context.configChanged(node))
                }
            }
        }
    }
}
