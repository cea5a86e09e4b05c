import Foundation

/// A dedicated OS thread that runs one session's blocking libssh2 work, one job at a time.
/// libssh2 sessions are not thread-safe, and blocking calls must stay off Swift's cooperative pool
/// (two threads on this machine: one stuck call would stall the whole program).
final class SessionThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false
    /// Called on the thread when it has been idle for `idleInterval` (keepalives, tunnel pumping).
    /// Only touched from the thread itself.
    var idleWork: (() -> Void)?
    var idleInterval: TimeInterval = 15

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Runs `body` on the session's thread and returns its result to the awaiting task.
    func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue { continuation.resume(with: Result { try body() }) }
        }
    }

    func enqueue(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets queued jobs finish, then ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping {
                if idleWork != nil {
                    let woken = condition.wait(until: Date(timeIntervalSinceNow: idleInterval))
                    if !woken && jobs.isEmpty {
                        condition.unlock()
                        idleWork?()
                        condition.lock()
                    }
                } else {
                    condition.wait()
                }
            }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
