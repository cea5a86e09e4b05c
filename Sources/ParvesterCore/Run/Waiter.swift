import Foundation
import Kube

/// Polls until a condition holds, with a timeout whose message names what was awaited and what was last
/// seen. Transient errors (a restarting API server) count as "not yet".
enum Waiter {
    static func until(_ what: String, timeout: TimeInterval, interval: Duration = .seconds(1),
                      _ check: () async throws -> (done: Bool, seen: String)) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        try await StepActivity.waiting(for: what, limit: timeout) {
            try await poll(what, deadline: deadline, timeout: timeout, interval: interval, check)
        }
    }

    private static func poll(_ what: String, deadline: Date, timeout: TimeInterval, interval: Duration,
                             _ check: () async throws -> (done: Bool, seen: String)) async throws {
        var seen = "nothing yet"
        while true {
            do {
                let result = try await check()
                if result.done { return }
                seen = result.seen
            } catch let error as KubeError where !error.isTransient {
                throw error  // a TLS or authentication failure does not fix itself
            } catch {
                seen = RunContext.describe(error)
            }
            guard Date() < deadline else { throw WaitTimedOut(what: what, seconds: timeout, lastSeen: seen) }
            try await Task.sleep(for: interval)
        }
    }
}

struct WaitTimedOut: Error, CustomStringConvertible {
    var what: String
    var seconds: TimeInterval
    var lastSeen: String
    var description: String { "timed out after \(Int(seconds)) s waiting for \(what); last seen: \(lastSeen)" }
}
