import Foundation
import Kube

/// Nodes of this cluster (by the label) that the inventory no longer names: listed, and changed only
/// when asked (`up --prune`, which hands them to the removal phases that follow).
struct StrayNodesPhase: ReadOnlyPhase {
    let id = "stray-nodes"
    let title = "Nodes in the cluster but not in the inventory"
    let prune: Bool
    let settings: RemovalSettings

    func targets(_ context: RunContext) -> [String] { ["cluster"] }
    func shouldRun(_ context: RunContext) -> Bool { true }

    func run(_ context: RunContext) async throws {
        guard let kube = context.kube else { return }  // a plan for a cluster not up yet: nothing can be stray
        let name = context.inventory.cluster.name
        let inventory = Set(context.inventory.nodes.map(\.name))
        var live = context.cluster.liveNodes ?? []
        if context.cluster.liveNodes == nil { live = try await KubeNodes.list(kube) }
        let stray = live.filter { $0.labels[Ownership.clusterLabel] == name && !inventory.contains($0.name) }
        guard !stray.isEmpty else { return try await context.clusterStep(id) { .ok("none") } }
        if prune {
            let targets = stray.map { RemovalTarget(apiNode: $0, inventory: context.inventory) }
            // A removal that would break the cluster is refused here (a failed step); the rest of `up` goes on.
            try? await context.clusterStep(id) {
                if let refusal = RemovalChecks.refusal(targets, nodes: try await KubeNodes.list(kube), inventory: context.inventory) {
                    throw HostRefused(refusal)
                }
                try await RemovalChecks.checkMachines(context, targets, settings: settings)
                context.setRemovals(targets.filter(\.isServer) + targets.filter { !$0.isServer })
                return .ok(nil)
            }
        }
        for node in stray {
            let what = prune ? (context.planning ? "would be removed (--prune)" : "is removed below (--prune)")
                : "is in the cluster but not in the inventory: `parvester remove \(node.name) -i \(context.inventory.file)` or `up --prune` removes it"
            context.report.notice("\(node.name) \(what)")
        }
    }
}
