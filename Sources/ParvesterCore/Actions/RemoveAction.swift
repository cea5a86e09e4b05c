/// `remove NODE...`: takes nodes out of the cluster safely (docs/commands.md): checks first, then
/// cordon, drain, Node deletion (servers one at a time) and the node-side uninstall.
public enum RemoveAction {
    public static func make(_ inventory: Inventory, names: [String], settings: RemovalSettings) -> Action {
        Action(name: "remove", phases: [
            LocalInputsPhase(), ConnectPhase(nodes: { [$0.inventory.initialServer] }), LockPhase(), ClusterAccessPhase(),
            ResolveRemovalPhase(names: names, settings: settings),
        ] + removalPhases(settings))
    }

    /// What removes the chosen nodes, for `remove` and for `up --prune`.
    static func removalPhases(_ settings: RemovalSettings) -> [any Phase] {
        [ReachRemovedNodesPhase(settings: settings), CordonPhase(), StopMachinesPhase(settings: settings), DrainPhase(),
         DeleteNodesPhase(), UninstallPhase(settings: settings)]
    }
}
