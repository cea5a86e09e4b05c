/// Takes the cluster's run lock on the initial server, so that two runs never work on one cluster.
struct LockPhase: Phase {
    let id = "lock"
    let title = "Take the run lock"

    func run(_ context: RunContext) async throws {
        let initial = context.inventory.initialServer
        let lock = RunLock(node: initial)
        var abort: RunAbort?
        await context.step(id, initial) {
            do {
                let takenOver = try await lock.acquire(context)
                context.runLock = lock
                return .ok(takenOver)
            } catch let error as RunAbort {
                abort = error
                throw error
            }
        }
        if let abort { throw abort }
    }
}

/// Releases the lock; runs even after a failed phase.
struct UnlockPhase: Phase {
    let id = "unlock"
    let title = "Release the run lock"

    func run(_ context: RunContext) async throws {
        guard let lock = context.runLock else { return }
        await context.step(id, lock.node) {
            try await lock.release(context)
            context.runLock = nil
            return .ok(nil)
        }
    }
}
