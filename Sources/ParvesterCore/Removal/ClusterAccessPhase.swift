import Foundation
import Kube

/// Reads the cluster's API from the local kubeconfig, or from the initial server when that one does not
/// work: `remove` and `reset` need the API, not a built cluster.
struct ClusterAccessPhase: ReadOnlyPhase {
    let id = "cluster-access"
    let title = "Reach the Kubernetes API"
    /// `reset` goes on without the API (it cleans nodes over SSH); `remove` cannot.
    var required = true

    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }

    func run(_ context: RunContext) async throws {
        let node = context.inventory.initialServer
        let result = await context.step(id, node) {
            do {
                return try await Self.reach(context, node)
            } catch where !required {
                context.updateCluster { $0.kube = nil; $0.discovery = nil }
                return .ok("the API does not answer (\(RunContext.describe(error))); going on without it")
            }
        }
        if !result.succeeded { throw RunAbort("the cluster's API cannot be reached; nothing was changed") }
    }

    /// The API through the local kubeconfig when it answers, else through the one on `node`.
    static func reach(_ context: RunContext, _ node: Node) async throws -> RunContext.Done {
        let state = context.options.stateDirectory
        if let data = state.read(state.kubeconfigPath),
           let local = try? Kubeconfig(text: String(decoding: data, as: UTF8.self), source: state.kubeconfigPath),
           (try? context.setKubeconfig(local)) != nil, let kube = context.kube,
           let answer = try? await kube.request("GET", "/version", timeout: 10), answer.status == 200 {
            return .ok("through \(state.kubeconfigPath)")
        }
        try context.setKubeconfig(try await KubeconfigSource.fetch(context, from: node))
        guard let kube = context.kube else { throw RunAbort("no API client") }
        let answer = try await kube.request("GET", "/version", timeout: 10)
        guard answer.status == 200 else { throw KubeError.status(answer, doing: "GET /version") }
        return .ok("through \(KubeconfigSource.path) on \(node.name)")
    }
}
