import Foundation

/// What `up` did: every step's record, whether it stopped early, and which nodes failed.
public struct UpResult: Sendable, Encodable {
    public var cluster: String
    public var ok: Bool
    public var aborted: String?
    public var failedNodes: [String: String]
    public var changed: Int
    public var seconds: Double
    public var kubeconfig: String?
    public var steps: [StepRecord]
}

/// Runs the phases of `up` in order. A phase that cannot let the run go on throws `RunAbort`; the lock
/// is released whatever happened.
public enum UpRunner {
    /// `plan` (a dry run) takes no lock and waits for nothing.
    public static func phases(for inventory: Inventory, dryRun: Bool = false) -> [any Phase] {
        let all: [any Phase] = [LocalInputsPhase(), ConnectPhase(), LockPhase(), GatherFactsPhase(), ValidateHostsPhase(), PushConfigPhase(), InstallPhase(),
                                StartInitialServerPhase(), JoinServersPhase(), JoinAgentsPhase(), BridgePhase(), FetchKubeconfigPhase(),
                                WaitNodesReadyPhase()]
            + inventory.enabledComponents.map { ComponentPhase(component: $0) } + [CNIPluginsPhase(), NetworksPhase(), ImagesPhase(), VirtualMachinesPhase()]
        return dryRun ? all.filter { !($0 is LockPhase || $0 is WaitNodesReadyPhase) } : all
    }

    public static func run(_ inventory: Inventory, options: RunOptions, observer: RunObserver?) async -> UpResult {
        let started = Date()
        let context = RunContext(inventory: inventory, options: options, observer: observer)
        var aborted: String?
        for phase in phases(for: inventory, dryRun: options.dryRun) {
            context.report.phaseStarted(phase.id, title: phase.title)
            do {
                try await phase.run(context)
            } catch {
                aborted = context.masked(RunContext.describe(error))
                break
            }
        }
        if context.runLock != nil {
            let unlock = UnlockPhase()
            context.report.phaseStarted(unlock.id, title: unlock.title)
            try? await unlock.run(context)
        }
        await context.close()

        let failed = context.failedNodes
        let steps = context.report.all
        let state = options.stateDirectory
        let result = UpResult(
            cluster: inventory.cluster.name, ok: aborted == nil && failed.isEmpty && !steps.contains { $0.outcome == .failed },
            aborted: aborted, failedNodes: failed, changed: context.report.changedCount,
            seconds: Date().timeIntervalSince(started),
            kubeconfig: FileManager.default.fileExists(atPath: state.kubeconfigPath) ? state.kubeconfigPath : nil, steps: steps)
        if !options.dryRun, let json = try? JSONEncoder().encode(result) {
            try? state.write(json, to: state.lastRunPath)
        }
        return result
    }
}
