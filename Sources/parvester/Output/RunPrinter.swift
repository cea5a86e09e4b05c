import Foundation
import ParvesterCore

/// Prints a run as it happens: a header per phase, one line per node per phase (outcome and time), and
/// upload progress on a terminal. Thread-safe: nodes report in parallel.
final class RunPrinter: RunObserver, @unchecked Sendable {
    private let terminal: Terminal
    private let verbose: Bool
    private let lock = NSLock()
    private let nameWidth: Int
    private var lastProgress: [String: Date] = [:]
    private var transferStarted: [String: Date] = [:]
    private var progressShown = false
    /// The phase whose header was printed last: a step of another phase (a connect finishing while facts
    /// are gathered) carries its phase's name.
    private var currentPhase = ""

    /// A plan's words: what would happen, not what did.
    private let planning: Bool

    init(terminal: Terminal, verbose: Bool, names: [String], planning: Bool = false) {
        self.terminal = terminal
        self.verbose = verbose
        self.planning = planning
        nameWidth = max(7, names.map(\.count).max() ?? 0)
    }

    func phaseStarted(_ phase: String, title: String) {
        lock.withLock {
            endProgressLine()
            currentPhase = phase
            terminal.print(terminal.bold("▸ \(title)") + terminal.dim(" [\(phase)]"))
        }
    }

    func recorded(_ record: StepRecord) {
        let mark: String
        switch record.outcome {
        case .changed: mark = planning ? terminal.yellow("to change") : terminal.green("changed  ")
        case .unchanged: mark = terminal.dim(planning ? "no change" : "unchanged")
        case .deferred: mark = terminal.dim("later    ")
        case .ok: mark = "ok       "
        case .failed: mark = terminal.red("failed   ")
        case .skipped: mark = terminal.dim("skipped  ")
        }
        let time = String(format: "%6.2fs", record.seconds)
        // A multi-line detail (a diff, a service's log) continues indented under its line.
        let detailLines = (record.detail ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = detailLines.first ?? ""
        let rest = detailLines.dropFirst().map { "\n" + String(repeating: " ", count: nameWidth + 6) + $0 }.joined()
        let detail = record.detail == nil ? "" : (record.outcome == .failed ? "  " + terminal.red(first) : "  " + first) + rest
        lock.withLock {
            endProgressLine()
            let phase = record.phase == currentPhase ? "" : terminal.dim("  [\(record.phase)]")
            terminal.print("  \(record.target.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  \(mark) \(terminal.dim(time))\(phase)\(detail)")
        }
    }

    func command(target: String, _ summary: String) {
        guard verbose else { return }
        lock.withLock {
            endProgressLine()
            terminal.print(terminal.dim("    \(target): \(summary)"))
        }
    }

    func stillWorking(target: String, _ line: String) {
        lock.withLock {
            endProgressLine()
            terminal.print("  \(target.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  " + terminal.dim("… \(line)"))
        }
    }

    func transfer(target: String, file: String, sent: Int64, total: Int64) {
        guard terminal.colourOut else { return }  // progress bars only on a terminal
        lock.withLock {
            let key = target + file
            let now = Date()
            if sent < total, let last = lastProgress[key], now.timeIntervalSince(last) < 0.2 { return }
            lastProgress[key] = now
            let fraction = total > 0 ? Double(sent) / Double(total) : 1
            let bar = String(repeating: "█", count: Int(fraction * 20)).padding(toLength: 20, withPad: "░", startingAt: 0)
            let started = transferStarted[key] ?? now
            transferStarted[key] = started
            let line = "  \(target.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  \(bar) \(Int(fraction * 100))% \(file) \(ByteCount.text(sent))/\(ByteCount.text(total))"
                + TransferRate.text(sent: sent, total: total, seconds: now.timeIntervalSince(started))
            terminal.print("\r\u{1B}[2K" + line, terminator: "")
            progressShown = true
        }
    }

    private func endProgressLine() {
        if progressShown {
            terminal.print("\r\u{1B}[2K", terminator: "")
            progressShown = false
        }
    }
}

/// `, 112.5 MiB/s, 3s left` once a transfer has run long enough to say.
enum TransferRate {
    static func text(sent: Int64, total: Int64, seconds: TimeInterval) -> String {
        guard seconds >= 0.5, sent > 0 else { return "" }
        let rate = Double(sent) / seconds
        let left = total > sent ? Int((Double(total - sent) / rate).rounded(.up)) : 0
        let eta = left >= 60 ? "\(left / 60)m\(String(format: "%02d", left % 60))s" : "\(left)s"
        return ", \(ByteCount.text(Int64(rate)))/s, \(eta) left"
    }
}

enum ByteCount {
    static func text(_ bytes: Int64) -> String {
        let mib = Double(bytes) / 1_048_576
        if bytes < 1024 { return "\(bytes) B" }
        return mib >= 1 ? String(format: "%.1f MiB", mib) : String(format: "%.0f KiB", Double(bytes) / 1024)
    }
}
