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
        return .changed(wasActive ? "restarted (its configuration changed)" : "started")
    }

    static func waitActive(_ context: RunContext, _ node: Node, unit: String) async throws {
        let deadline = Date().addingTimeInterval(context.options.waitTimeout)
        var state = ""
        while Date() < deadline {
            state = try await context.run(node, "systemctl is-active \(ShellQuote.quote(unit))", allowFailure: true)
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            if state == "active" { return }
            if state == "failed" {
                throw ServiceFailed(unit: unit, state: state, journal: try await journal(context, node, unit: unit), waited: nil)
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw ServiceFailed(unit: unit, state: state, journal: try await journal(context, node, unit: unit), waited: context.options.waitTimeout)
    }

    static func journal(_ context: RunContext, _ node: Node, unit: String) async throws -> String {
        try await context.run(node, "journalctl -u \(ShellQuote.quote(unit)) -n 10 --no-pager", allowFailure: true).stdoutText
    }
}

struct ServiceFailed: Error, CustomStringConvertible {
    var unit: String
    var state: String
    var journal: String
    var waited: TimeInterval?

    var description: String {
        let lines = journal.split(separator: "\n").suffix(5).map { "    \($0)" }.joined(separator: "\n")
        let head = waited.map { "\(unit) still \(state) after \(Int($0)) s" } ?? "\(unit) failed"
        return "\(head); its last log lines:\n\(lines)\n  (journalctl -u \(unit) on the node shows more)"
    }
}
