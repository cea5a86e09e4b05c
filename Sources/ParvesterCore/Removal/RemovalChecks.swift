import Foundation
import Kube

/// What must hold before any node is touched: no server removal that breaks etcd's quorum, never the
/// initial server, and no VM left to die on a node being removed.
enum RemovalChecks {
    /// The refusal, or nil when the removal may go ahead.
    static func refusal(_ targets: [RemovalTarget], nodes: [KubeNodeInfo], inventory: Inventory) -> String? {
        if let initial = targets.first(where: { $0.name == inventory.initialServer.name }) {
            return "\(initial.name) is the inventory's initial server: Parvester takes its lock and reads the cluster's kubeconfig there. "
                + "Make another server the initial one (`initializesCluster: true`), run `parvester up`, then remove \(initial.name)"
        }
        let servers = nodes.filter { $0.isServer && !$0.deleting }.map(\.name)
        let leaving = Set(targets.filter(\.isServer).map(\.name)).intersection(servers)
        guard !leaving.isEmpty else { return nil }
        let left = servers.count - leaving.count
        let majority = servers.count / 2 + 1
        if left < 1 { return "removing \(leaving.sorted().joined(separator: ", ")) would leave no server: use `parvester reset` to take the whole cluster away" }
        if left < majority {
            return "removing \(leaving.sorted().joined(separator: ", ")) would leave \(left) of \(servers.count) servers, fewer than the majority (\(majority)) etcd needs "
                + "to keep quorum through the change. Add servers first, or remove fewer at a time"
        }
        return nil
    }

    /// VirtualMachineInstances running on the nodes, as `namespace/name (node)`.
    static func machines(on names: Set<String>, kube: KubeHTTPClient) async throws -> [(namespace: String, name: String, node: String)] {
        let response = try await kube.request("GET", "/apis/kubevirt.io/v1/virtualmachineinstances")
        if response.status == 404 { return [] }  // KubeVirt is not installed: no VMs
        guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
            throw KubeError.status(response, doing: "listing VirtualMachineInstances")
        }
        return items.compactMap { item in
            let meta = item["metadata"] as? [String: Any] ?? [:]
            guard let node = (item["status"] as? [String: Any])?["nodeName"] as? String, names.contains(node),
                  let namespace = meta["namespace"] as? String, let name = meta["name"] as? String else { return nil }
            return (namespace, name, node)
        }.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
    }

    /// Refuses VMs on the nodes unless told to stop them: on local-path storage they cannot live-migrate.
    static func checkMachines(_ context: RunContext, _ targets: [RemovalTarget], settings: RemovalSettings) async throws {
        guard let kube = context.kube, settings.vms == .refuse else { return }
        let found = try await machines(on: Set(targets.map(\.name)), kube: kube)
        guard !found.isEmpty else { return }
        let list = found.map { "\($0.namespace)/\($0.name) (on \($0.node))" }.joined(separator: ", ")
        throw RunAbort("VMs run on the nodes to remove: \(list). Their disks are local-path volumes, which cannot live-migrate. "
                       + "Pass --vms stop to stop them (a later `up` starts the inventory's VMs on the nodes left), or move them first; nothing was changed")
    }
}
