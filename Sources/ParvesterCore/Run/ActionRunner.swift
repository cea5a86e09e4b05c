import Foundation

/// An ordered list of phases, and the phases that run whatever happened (releasing the lock). `up`,
/// `remove` and `reset` are actions; `plan` runs an action's phases as a dry run.
public struct Action: Sendable {
    public var name: String
    public var phases: [any Phase]
    public var finally: [any Phase]
    /// Whether the report is kept as the state directory's last-run.json (`reset` removes that directory).
    public var recordsLastRun: Bool

    public init(name: String, phases: [any Phase], finally: [any Phase] = [UnlockPhase()], recordsLastRun: Bool = true) {
        self.name = name
        self.phases = phases
        self.finally = finally
        self.recordsLastRun = recordsLastRun
    }
}

/// What a run did: every step's record, whether it stopped early, and which nodes failed.
public struct RunResult: Sendable, Encodable {
    public var action: String
    public var cluster: String
    /// A plan: nothing was changed; `changed` counts what would be.
    public var plan: Bool
    public var ok: Bool
    public var aborted: String?
    public var failedNodes: [String: String]
    public var changed: Int
    public var seconds: Double
    public var kubeconfig: String?
    public var steps: [StepRecord]
    /// Remarks for the reader: nodes and objects of this cluster the inventory no longer names, what a
    /// removal left behind, where the token was kept.
    public var notices: [String]
    /// What read-only actions found: the etcd snapshots on the servers (`snapshot list`), and the servers'
    /// certificates (`certs check`); nil when the action does not read them.
    public var snapshots: [RemoteSnapshot]? = nil
    public var certificates: [CertificateExpiry]? = nil
}

/// Runs an action's phases in order, one after another; a phase that cannot let the run go on throws
/// `RunAbort`. In a plan each phase describes what it would do instead of doing it.
public enum ActionRunner {
    public static func run(_ action: Action, context: RunContext) async -> RunResult {
        let started = Date()
        var aborted: String?
        for phase in action.phases where phase.shouldRun(context) {
            context.report.phaseStarted(phase.id, title: phase.title)
            do {
                if context.planning { try await phase.describe(context) } else { try await phase.run(context) }
            } catch {
                aborted = context.masked(RunContext.describe(error))
                break
            }
        }
        for phase in action.finally where phase.shouldRun(context) {
            context.report.phaseStarted(phase.id, title: phase.title)
            try? await phase.run(context)
        }
        await context.close()

        let failed = context.failedNodes
        let steps = context.report.all
        let state = context.options.stateDirectory
        var result = RunResult(
            action: action.name, cluster: context.inventory.cluster.name, plan: context.planning,
            ok: aborted == nil && failed.isEmpty && !steps.contains { $0.outcome == .failed },
            aborted: aborted, failedNodes: failed, changed: context.report.changedCount,
            seconds: Date().timeIntervalSince(started),
            kubeconfig: FileManager.default.fileExists(atPath: state.kubeconfigPath) ? state.kubeconfigPath : nil, steps: steps,
            notices: context.report.notices)
        let cluster = context.cluster
        if action.phases.contains(where: { $0 is SnapshotListPhase }) { result.snapshots = cluster.remoteSnapshots }
        if action.phases.contains(where: { $0 is CertificatesPhase }) { result.certificates = cluster.certificates }
        if !context.planning, action.recordsLastRun, let json = try? JSONEncoder().encode(result) {
            try? state.write(json, to: state.lastRunPath)
        }
        return result
    }

    /// What `plan --from-inventory` lists: the action's phases with work, from the inventory alone.
    public static func outline(_ action: Action, context: RunContext) -> [PlanStep] {
        (action.phases + action.finally).filter { !$0.targets(context).isEmpty }.map { $0.outline(context) }
    }
}
