import Foundation
import SSH

/// Starts (or restarts) an RKE2 unit without blocking, then polls its state with Parvester's own
/// timeout. RKE2's units are Type=notify without a start timeout: a blocking `systemctl start` on a node
/// that cannot join would wait forever.
enum ServiceStarter {
    static func ensureRunning(_ context: RunContext, _ node: Node, unit: String, restart: Bool) async throws -> RunContext.Done {
        let facts = context.facts(node)
        let wasActive = facts?.isActive(unit) ?? false
        let quoted = ShellQuote.quote(unit)
        if wasActive && !restart {
            if facts?.enabled[unit] == "enabled" { return .unchanged }
            try await context.run(node, "systemctl enable \(quoted)")
            return .changed("enabled")
        }
        // stop, then start: unlike `restart --no-block`, the state read next cannot be the old process's.
        let stop = wasActive ? "systemctl stop \(quoted) && " : ""
        try await context.run(node, "systemctl enable \(quoted) && \(stop)systemctl start --no-block \(quoted)",
                              summary: "systemctl enable \(unit) && \(wasActive ? "systemctl stop \(unit) && " : "")systemctl start --no-block \(unit)")
        try await waitActive(context, node, unit: unit)
        if RestartMarker.isPresent(context.facts(node)) { try await RestartMarker.clear(context, node) }
        return .changed(wasActive ? "restarted (its configuration changed)" : "started")
    }

    /// Restarts after which a unit that should come up is called crash-looping. RKE2's units say
    /// Restart=always, so under systemd a dying RKE2 never shows `failed`: it cycles through `activating`
    /// (SubState=auto-restart) with a rising NRestarts, every RestartSec (5 s).
    static let crashLoopRestarts = 2

    static func waitActive(_ context: RunContext, _ node: Node, unit: String) async throws {
        try await StepActivity.waiting(for: "\(unit) active", limit: context.options.waitTimeout) {
            try await pollActive(context, node, unit: unit)
        }
    }

    private static func pollActive(_ context: RunContext, _ node: Node, unit: String) async throws {
        let deadline = Date().addingTimeInterval(context.options.waitTimeout)
        var state = UnitState(text: "")
        while Date() < deadline {
            let output = try await context.run(node, "systemctl show -p ActiveState,SubState,NRestarts,Result \(ShellQuote.quote(unit))",
                                               allowFailure: true)
            state = UnitState(text: output.stdoutText)
            if state.active == "active" { return }
            if state.active == "failed" {
                throw ServiceFailed(unit: unit, state: state.description, journal: try await journal(context, node, unit: unit), waited: nil)
            }
            if state.restarts >= crashLoopRestarts {
                throw ServiceFailed(unit: unit, state: state.description, journal: try await journal(context, node, unit: unit), waited: nil,
                                    crashLooping: true)
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw ServiceFailed(unit: unit, state: state.description, journal: try await journal(context, node, unit: unit),
                            waited: context.options.waitTimeout)
    }

    static func journal(_ context: RunContext, _ node: Node, unit: String) async throws -> String {
        try await context.run(node, "journalctl -u \(ShellQuote.quote(unit)) -n 10 --no-pager", allowFailure: true).stdoutText
    }
}

/// `systemctl show -p ActiveState,SubState,NRestarts,Result` as read back.
struct UnitState: CustomStringConvertible {
    var active = "unknown"
    var sub = ""
    var restarts = 0
    var result = ""

    init(text: String) {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "ActiveState": active = parts[1]
            case "SubState": sub = parts[1]
            case "NRestarts": restarts = Int(parts[1]) ?? 0
            case "Result": result = parts[1]
            default: break
            }
        }
    }

    var description: String { sub.isEmpty || sub == active ? active : "\(active) (\(sub))" }
}

struct ServiceFailed: Error, CustomStringConvertible {
    var unit: String
    var state: String
    var journal: String
    var waited: TimeInterval?
    var crashLooping = false

    var description: String {
        let lines = journal.split(separator: "\n").suffix(5).map { "    \($0)" }.joined(separator: "\n")
        let head = crashLooping ? "\(unit) keeps crashing: systemd restarted it \(ServiceStarter.crashLoopRestarts) times (Restart=always)"
            : waited.map { "\(unit) still \(state) after \(Int($0)) s" } ?? "\(unit) failed"
        return "\(head); its last log lines:\n\(lines)\n  (journalctl -u \(unit) on the node shows more)"
    }
}
