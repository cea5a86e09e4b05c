import Foundation
import Kube

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
