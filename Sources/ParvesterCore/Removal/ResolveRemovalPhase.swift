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
                return try await reach(context, node)
            } catch where !required {
                context.updateCluster { $0.kube = nil; $0.discovery = nil }
                return .ok("the API does not answer (\(RunContext.describe(error))); going on without it")
            }
        }
        if !result.succeeded { throw RunAbort("the cluster's API cannot be reached; nothing was changed") }
    }

    private func reach(_ context: RunContext, _ node: Node) async throws -> RunContext.Done {
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

/// Finds the nodes to remove in the API (or in the record of a removal that did not finish), and
/// refuses what would break the cluster before anything changes.
struct ResolveRemovalPhase: ReadOnlyPhase {
    let id = "check-removal"
    let title = "Check what can be removed"
    let names: [String]
    let settings: RemovalSettings

    func targets(_ context: RunContext) -> [String] { names }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        let nodes = try await KubeNodes.list(kube)
        let state = context.options.stateDirectory
        var targets: [RemovalTarget] = []
        for name in names {
            if let node = nodes.first(where: { $0.name == name }) {
                targets.append(RemovalTarget(apiNode: node, inventory: context.inventory))
            } else if let pending = PendingRemovals.find(name, in: state) {
                targets.append(pending)  // its Node is gone already: the rest of the removal is left
            } else {
                context.report.notice("\(name) is not in the cluster: nothing to remove")
            }
        }
        if let refusal = RemovalChecks.refusal(targets, nodes: nodes, inventory: context.inventory) {
            throw RunAbort(refusal + "; nothing was changed")
        }
        try await RemovalChecks.checkMachines(context, targets, settings: settings)
        for target in targets where target.inInventory {
            context.report.notice("\(target.name) is still in the inventory: the next `parvester up` adds it back. Take it out of \(context.inventory.file)")
        }
        // Servers first, one at a time (etcd changes one member at a time), then agents.
        context.setRemovals(targets.filter(\.isServer) + targets.filter { !$0.isServer })
    }
}

/// Opens a session to each node to remove. One that does not answer stops the removal before anything
/// changed, unless --unreachable says to take it out of the cluster anyway.
struct ReachRemovedNodesPhase: ReadOnlyPhase {
    let id = "connect-removed"
    let title = "Connect to the nodes to remove"
    let settings: RemovalSettings

    func targets(_ context: RunContext) -> [String] { context.removals.map(\.name) }

    func run(_ context: RunContext) async throws {
        // Every node, also one whose connect step failed already: it is asked again, and stops the run.
        let nodes = context.removals.map { $0.node(in: context.inventory) }
        let unanswered = Unanswered()
        await context.forEach(nodes) { node in
            let result = await context.step(id, node) {
                do {
                    let transport = try await context.transport(for: node)
                    return .ok("as \(transport.loginUser) at \(node.address)")
                } catch where settings.unreachable {
                    context.updateCluster { $0.leftDirty.append(node.name) }
                    return .ok("does not answer (\(RunContext.describe(error))): removed from the cluster only (--unreachable)")
                }
            }
            if !result.succeeded { unanswered.add(node.name) }
        }
        let failed = unanswered.names
        if !failed.isEmpty {
            throw RunAbort("\(failed.joined(separator: ", ")) \(failed.count == 1 ? "does" : "do") not answer over SSH; nothing was changed. "
                           + "Bring \(failed.count == 1 ? "it" : "them") back, or pass --unreachable to remove \(failed.count == 1 ? "it" : "them") from the cluster anyway (left dirty)")
        }
    }
}

/// Names collected from parallel steps.
final class Unanswered: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    func add(_ name: String) { lock.withLock { collected.append(name) } }
    var names: [String] { lock.withLock { collected.sorted() } }
}
