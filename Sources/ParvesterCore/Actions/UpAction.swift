/// `up`: everything from SSH to the VMs, in the order of docs/phases.md. `plan` runs the same list as a
/// dry run.
public enum UpAction {
    /// Agents join in parallel, but at most this many at once (a burst of joins strains the servers).
    public static let agentBatchSize = 50

    public static func make(_ inventory: Inventory, prune: Bool = false, removal: RemovalSettings = RemovalSettings()) -> Action {
        // Nodes already in the cluster change version or configuration in the roll (see UpgradeAction);
        // install and start then only bring up the nodes that are new.
        let nodes: [any Phase] = [LocalInputsPhase(), ConnectPhase(), LockPhase(), GatherFactsPhase(), HostToolsPhase(), ValidateHostsPhase(), PortCheckPhase()]
            + UpgradeAction.checkPhases() + UpgradeAction.rollPhases() + [
            InstallPhase(), StartInitialServerPhase(), JoinServersPhase(), JoinAgentsPhase(), BridgePhase(), FetchKubeconfigPhase(),
            WaitNodesReadyPhase(), LabelNodesPhase(), StrayNodesPhase(prune: prune, settings: removal),
        ] + RemoveAction.removalPhases(removal)
        let cluster: [any Phase] = inventory.enabledComponents.map { ComponentPhase(component: $0) }
            + [CNIPluginsPhase(), NetworksPhase(), ImagesPhase(), VirtualMachinesPhase(), StrayObjectsPhase(prune: prune)]
        return Action(name: "up", phases: nodes + cluster)
    }
}

extension Install {
    public var summary: String {
        switch self {
        case .online(let url): return "online from \(url)"
        case .airgap(let directory): return "airgap from \(directory)"
        }
    }
}
