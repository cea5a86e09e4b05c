import Foundation
import Kube
import YAML

/// How a removal treats what stands in its way.
public struct RemovalSettings: Sendable {
    public enum VMPolicy: String, Sendable, YAMLChoice { case refuse, stop }
    /// VMs running on a node to remove: local-path disks cannot live-migrate, so they are stopped or refused.
    public var vms: VMPolicy = .refuse
    /// Remove a node that does not answer over SSH from the cluster anyway, leaving it dirty.
    public var unreachable = false
    /// Also delete the bridge and the local-path data on the node.
    public var wipe = false

    public init(vms: VMPolicy = .refuse, unreachable: Bool = false, wipe: Bool = false) {
        self.vms = vms
        self.unreachable = unreachable
        self.wipe = wipe
    }
}

/// A node to take out of the cluster: how to reach it, and what it was.
public struct RemovalTarget: Sendable, Codable {
    public var name: String
    public var address: String
    public var isServer: Bool
    /// Whether the inventory still names it (its SSH settings come from there).
    public var inInventory: Bool

    init(name: String, address: String, isServer: Bool, inInventory: Bool) {
        self.name = name
        self.address = address
        self.isServer = isServer
        self.inInventory = inInventory
    }

    /// A node the API knows: reached at its InternalIP with the inventory's SSH settings for it, or, when
    /// the inventory no longer names it, with the initial server's.
    init(apiNode: KubeNodeInfo, inventory: Inventory) {
        let listed = inventory.nodes.first { $0.name == apiNode.name }
        name = apiNode.name
        address = listed?.address ?? apiNode.internalAddresses.first ?? apiNode.name
        isServer = apiNode.isServer
        inInventory = listed != nil
    }

    /// The node as phases address it.
    func node(in inventory: Inventory) -> Node {
        if let listed = inventory.nodes.first(where: { $0.name == name }) { return listed }
        let initial = inventory.initialServer
        return Node(name: name, address: address, role: isServer ? .server : .agent, initializesCluster: false, uplink: nil,
                    ssh: initial.ssh, labels: [], taints: [])
    }
}

/// A removal begun and not finished, kept in the state directory (`removal-NAME.json`) from before the
/// Node is deleted until the node is clean: a re-run after a failure or SIGKILL finds the node there,
/// though the API no longer does.
enum PendingRemovals {
    static func path(_ state: StateDirectory, _ name: String) -> String { state.path + "/removal-\(name).json" }

    static func record(_ target: RemovalTarget, in state: StateDirectory) throws {
        try state.write(try JSONEncoder().encode(target), to: path(state, target.name))
    }

    static func find(_ name: String, in state: StateDirectory) -> RemovalTarget? {
        state.read(path(state, name)).flatMap { try? JSONDecoder().decode(RemovalTarget.self, from: $0) }
    }

    static func finish(_ name: String, in state: StateDirectory) {
        unlink(path(state, name))
    }
}

extension RunContext {
    /// The nodes this run removes, in order (servers first, one at a time; then agents).
    var removals: [RemovalTarget] { cluster.removals }
    func setRemovals(_ targets: [RemovalTarget]) { updateCluster { $0.removals = targets } }
    /// The nodes being removed that have not failed a step: a node whose drain failed is not deleted.
    func removalNodes() -> [Node] { healthy(removals.map { $0.node(in: inventory) }) }
    /// The targets still in the removal, in order.
    var healthyRemovals: [RemovalTarget] { removals.filter { !hasFailed($0.node(in: inventory)) } }
}
