import Foundation

/// What a node's step is doing right now, so a long step can say so: "still waiting for rke2-agent
/// active, 30 s of 900 s". Set by waits and remote commands through the task-local `current`.
final class StepActivity: @unchecked Sendable {
    @TaskLocal static var current: StepActivity?

    /// How often a step that is still running prints a line (also into pipes and CI logs).
    static let reportInterval: TimeInterval = 10

    private let lock = NSLock()
    private var text: String?
    private var since = Date()
    private var limit: TimeInterval?
    /// Set while a wait runs: the commands that poll for it do not replace what is waited for.
    private var waitingDepth = 0

    /// Records what the step does now, with the time limit that applies to it.
    static func doing(_ text: String, limit: TimeInterval?) {
        guard let activity = current else { return }
        activity.lock.withLock {
            guard activity.waitingDepth == 0 else { return }
            activity.set(text, limit: limit)
        }
    }

    /// Runs a wait, reporting it as "waiting for WHAT" however many commands it runs to poll.
    static func waiting<T>(for what: String, limit: TimeInterval, _ body: () async throws -> T) async rethrows -> T {
        guard let activity = current else { return try await body() }
        activity.lock.withLock {
            activity.set("waiting for \(what)", limit: limit)
            activity.waitingDepth += 1
        }
        defer { activity.lock.withLock { activity.waitingDepth -= 1 } }
        return try await body()
    }

    private func set(_ text: String, limit: TimeInterval?) {
        if self.text != text { since = Date() }
        self.text = text
        self.limit = limit
    }

    /// "still waiting for X, 30 s of 900 s"; nil before anything was recorded.
    func line() -> String? {
        lock.withLock {
            guard let text else { return nil }
            let elapsed = Int(Date().timeIntervalSince(since))
            return "still \(text), \(elapsed) s" + (limit.map { " of \(Int($0)) s" } ?? "")
        }
    }

    /// Runs `work` with an activity, reporting the activity every `reportInterval` while it runs.
    static func reporting<T: Sendable>(every interval: TimeInterval = reportInterval, _ report: @escaping @Sendable (String) -> Void,
                                       _ work: () async throws -> T) async rethrows -> T {
        let activity = StepActivity()
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(interval))
                if Task.isCancelled { break }
                if let line = activity.line() { report(line) }
            }
        }
        defer { ticker.cancel() }
        return try await $current.withValue(activity) { try await work() }
    }
}
