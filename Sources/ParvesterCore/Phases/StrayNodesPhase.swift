import Foundation
import Kube

/// The label Parvester puts on the Nodes and objects it makes, so that what belongs to a cluster and
/// left the inventory can be found from the API, from any machine.
public enum Ownership {
    public static let clusterLabel = "parvester.io/cluster"
}

/// Labels every Node of the inventory `parvester.io/cluster=NAME` (a merge patch, only where missing).
/// RKE2's `node-label` would do it only at registration, and a change to it would restart every node.
struct LabelNodesPhase: ApplyOnlyPhase {
    let id = "label-nodes"
    let title = "Label the nodes as this cluster's"

    func targets(_ context: RunContext) -> [String] { ["cluster"] }

    func run(_ context: RunContext) async throws {
        try await context.clusterStep(id) {
            let (kube, _) = try context.clusterClient()
            let name = context.inventory.cluster.name
            let nodes = try await KubeNodes.list(kube)
            let wanted = Set(context.healthy(context.inventory.nodes).map(\.name))
            var labelled: [String] = []
            for node in nodes where wanted.contains(node.name) && node.labels[Ownership.clusterLabel] != name {
                let patch = try JSONSerialization.data(withJSONObject: ["metadata": ["labels": [Ownership.clusterLabel: name]]])
                let response = try await kube.request("PATCH", "/api/v1/nodes/\(node.name)", body: patch, contentType: "application/merge-patch+json")
                guard response.status == 200 else { throw KubeError(.api, "labelling Node \(node.name) answered \(response.status)", status: response.status) }
                labelled.append(node.name)
            }
            return labelled.isEmpty ? .unchanged : .changed("labelled \(labelled.joined(separator: ", "))")
        }
    }
}

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
        let stray = try await KubeNodes.list(kube, labelSelector: "\(Ownership.clusterLabel)=\(name)").filter { !inventory.contains($0.name) }
        guard !stray.isEmpty else { return }
        if prune {
            let targets = stray.map { RemovalTarget(apiNode: $0, inventory: context.inventory) }
            // A removal that would break the cluster is refused here (a failed step); the rest of `up` goes on.
            try? await context.clusterStep(id) {
                if let refusal = RemovalChecks.refusal(targets, nodes: try await KubeNodes.list(kube), inventory: context.inventory) {
                    throw RemovalRefused(refusal)
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

struct RemovalRefused: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
