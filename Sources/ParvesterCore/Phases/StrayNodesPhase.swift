import Foundation
import Kube
import YAML

/// The label Parvester puts on the Nodes and objects it makes, so that what belongs to a cluster and
/// left the inventory can be found from the API, from any machine.
public enum Ownership {
    public static let clusterLabel = "parvester.io/cluster"

    /// The object with `parvester.io/cluster: NAME` among its labels.
    public static func labelled(_ object: KubeObject, cluster: String) -> KubeObject {
        var object = object
        object.node = setting(["metadata", "labels", clusterLabel], to: .string(cluster), in: object.node)
        return object
    }

    private static func setting(_ path: ArraySlice<String>, to value: YAMLNode, in node: YAMLNode) -> YAMLNode {
        guard let key = path.first else { return value }
        var pairs = node.mapping ?? []
        if let index = pairs.firstIndex(where: { $0.key.scalar?.value == key }) {
            pairs[index].value = setting(path.dropFirst(), to: value, in: pairs[index].value)
        } else {
            pairs.append(YAMLNode.Pair(key: .string(key), value: setting(path.dropFirst(), to: value, in: .mapping([]))))
        }
        return YAMLNode(.mapping(pairs), mark: node.mark, tag: node.tag)
    }

    static func setting(_ path: [String], to value: YAMLNode, in node: YAMLNode) -> YAMLNode { setting(path[...], to: value, in: node) }
}

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
