/// Takes the cluster's run lock on the initial server, so that two runs never work on one cluster.
struct LockPhase: ApplyOnlyPhase {
    let id = "lock"
    let title = "Take the run lock"
    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }

    func run(_ context: RunContext) async throws {
        let initial = context.inventory.initialServer
        let lock = RunLock(node: initial)
        try await context.step(id, initial) {
            let takenOver = try await lock.acquire(context)
            context.runLock = lock
            return .ok(takenOver)
        }.abortIfAsked()
    }
}

/// Releases the lock; runs even after a failed phase.
public struct UnlockPhase: Phase {
    public let id = "unlock"
    public let title = "Release the run lock"
    public init() {}
    public func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }
    public func shouldRun(_ context: RunContext) -> Bool { context.runLock != nil }

    public func run(_ context: RunContext) async throws {
        guard let lock = context.runLock else { return }
        await context.step(id, lock.node) {
            try await lock.release(context)
            context.runLock = nil
            return .ok(nil)
        }
    }
}
