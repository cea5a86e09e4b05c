import Kube

/// Waits until every node still in the run is Ready in the API; those that are not fail, by name.
struct WaitNodesReadyPhase: ApplyOnlyPhase {
    let id = "wait-nodes-ready"
    let title = "Wait for nodes Ready"

    func run(_ context: RunContext) async throws {
        let nodes = context.healthy(context.inventory.nodes)
        guard !nodes.isEmpty else { return }
        var failure: (any Error)?
        do {
            try await NodeReadiness.wait(context, for: nodes.map(\.name))
        } catch {
            failure = error
        }
        var readiness: [String: String] = [:]
        if let kube = context.kube { readiness = (try? await KubeNodes.readiness(kube)) ?? [:] }
        for node in nodes {
            await context.step(id, node) {
                if failure == nil || readiness[node.name] == "True" { return .ok(nil) }
                throw failure!
            }
        }
    }
}
