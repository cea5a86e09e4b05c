/// `upgrade`: the nodes already in the cluster onto the inventory's RKE2 version and configuration, one
/// server at a time and agents in batches, after an etcd snapshot; then the components' new releases.
/// `up` runs the same phases (check-upgrade, snapshot, roll) when versions or configuration differ.
public enum UpgradeAction {
    /// The phases `up` and `upgrade` share, between gather-facts and the installs of new nodes.
    static func checkPhases() -> [any Phase] { [UpgradeCheckPhase()] }
    static func rollPhases() -> [any Phase] { [SnapshotSavePhase(preUpgrade: true), PushConfigPhase(), RollPhase()] }

    public static func make(_ inventory: Inventory) -> Action {
        let nodes: [any Phase] = [LocalInputsPhase(), ConnectPhase(), LockPhase(), GatherFactsPhase(), HostToolsPhase(), ValidateHostsPhase(), PortCheckPhase(),
                                  RequireClusterPhase()] + checkPhases() + rollPhases() + [FetchKubeconfigPhase(), WaitNodesReadyPhase()]
        return Action(name: "upgrade", phases: nodes + inventory.enabledComponents.map { ComponentPhase(component: $0) })
    }
}
