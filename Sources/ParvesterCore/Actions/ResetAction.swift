/// `reset`: takes the whole cluster away (docs/commands.md): every node uninstalled, agents first and
/// the initial server last, then checked for leftovers; the local state goes, the token is kept.
public enum ResetAction {
    public static func make(_ inventory: Inventory, settings: RemovalSettings) -> Action {
        Action(name: "reset", phases: [
            LocalInputsPhase(keysOnly: true), ConnectPhase(), LockPhase(), GatherFactsPhase(), ClusterAccessPhase(required: false),
            ResetTargetsPhase(), ReachRemovedNodesPhase(settings: settings), ResetNodesPhase(wipe: settings.wipe), VerifyResetPhase(),
            ForgetClusterPhase(),
        ], recordsLastRun: false)
    }
}
