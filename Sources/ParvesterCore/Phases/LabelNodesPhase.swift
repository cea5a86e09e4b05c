import Foundation
import Kube

/// Labels every Node of the inventory `parvester.io/cluster=NAME` (a merge patch, only where missing).
/// RKE2's `node-label` would do it only at registration, and a change to it would restart every node.
/// Only labelled nodes get a line.
struct LabelNodesPhase: ApplyOnlyPhase {
    let id = "label-nodes"
    let title = "Label the nodes as this cluster's"

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        let name = context.inventory.cluster.name
        let live = try await KubeNodes.list(kube)
        context.updateCluster { $0.liveNodes = live }
        let labelled = Set(live.filter { $0.labels[Ownership.clusterLabel] == name }.map(\.name))
        await context.forEach(context.healthy(context.inventory.nodes).filter { !labelled.contains($0.name) }) { node in
            await context.step(id, node) {
                let patch = try JSONSerialization.data(withJSONObject: ["metadata": ["labels": [Ownership.clusterLabel: name]]])
                let response = try await kube.send("PATCH", "/api/v1/nodes/\(node.name)", body: patch, contentType: "application/merge-patch+json")
                guard response.status == 200 else { throw KubeError.status(response, doing: "labelling Node \(node.name)") }
                return .changed("labelled \(Ownership.clusterLabel)=\(name)")
            }
        }
    }
}
