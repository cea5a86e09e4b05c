/// Joins the other servers one at a time, each Ready in the API before the next: etcd adds one member
/// at a time, and concurrent server joins break it.
struct JoinServersPhase: Phase {
    let id = "join-servers"
    let title = "Join servers, one at a time"
    func targets(_ context: RunContext) -> [String] { context.inventory.joiningServers.map(\.name) }
    func note(_ context: RunContext) -> String? { "one at a time, each Ready before the next" }

    func describe(_ context: RunContext) async throws {
        for node in context.healthy(context.inventory.joiningServers) {
            await context.step(id, node) { DryRun.service(context, node, unit: "rke2-server") }
        }
    }

    func run(_ context: RunContext) async throws {
        for node in context.healthy(context.inventory.joiningServers) {
            await context.step(id, node) {
                let done = try await ServiceStarter.ensureRunning(context, node, unit: "rke2-server", restart: context.needsRestart(node))
                try await NodeReadiness.wait(context, for: [node.name])
                return done
            }
        }
    }
}

/// Starts agents in parallel, in batches of at most `UpAction.agentBatchSize`.
struct JoinAgentsPhase: Phase {
    let id = "join-agents"
    let title = "Join agents"
    func targets(_ context: RunContext) -> [String] { context.inventory.agents.map(\.name) }
    func note(_ context: RunContext) -> String? { "in parallel, batches of at most \(UpAction.agentBatchSize)" }

    func describe(_ context: RunContext) async throws {
        await context.forEach(context.healthy(context.inventory.agents)) { node in
            await context.step(id, node) { DryRun.service(context, node, unit: "rke2-agent") }
        }
    }

    func run(_ context: RunContext) async throws {
        let agents = context.healthy(context.inventory.agents)
        for start in stride(from: 0, to: agents.count, by: UpAction.agentBatchSize) {
            let batch = Array(agents[start..<min(start + UpAction.agentBatchSize, agents.count)])
            await context.forEach(batch, width: UpAction.agentBatchSize) { node in
                await context.step(id, node) {
                    return try await ServiceStarter.ensureRunning(context, node, unit: "rke2-agent", restart: context.needsRestart(node))
                }
            }
        }
    }
}
