import Foundation
import SSH
import TestSupport
import Testing

/// A run that dies or loses a node is fixed by running again. Nodes lab68-lab79 and lab8-lab10 only.
@Suite("up recovers from kills and cut links", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpRecoveryTests {
    /// Lines of `up -v` seen so far, and when to SIGKILL the run. Only lines every run prints the same
    /// number of times count: a poll (`systemctl show …` until a unit is active) repeats as often as the
    /// machine is slow, and a "… still waiting" line appears only on a slow step, so the kill point counts
    /// distinct lines (less their times) and skips the progress lines. Counting every line let a quick run finish before it.
    final class Killer: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: Set<String> = []
        let at: Int
        init(at: Int) { self.at = at }
        func line(_ line: String, _ pid: Int32) {
            guard Killer.counts(line) else { return }
            let reached = lock.withLock { seen.insert(Killer.key(line)).inserted && seen.count == at }
            if reached { kill(pid, SIGKILL) }
        }
        static func counts(_ line: some StringProtocol) -> Bool { !line.contains("… still ") }
        /// A line without its step time: "0.00s" in one run is "0.01s" in the next.
        static func key(_ line: some StringProtocol) -> String { String(line).replacing(/\d+\.\d\ds/, with: "") }
        /// How many lines of a finished run's output count.
        static func countedLines(_ output: String) -> Int {
            Set(output.split(separator: "\n").filter { counts($0) }.map { key($0) }).count
        }
        /// How many lines count before the header of `phase`: a kill point past it would land when the
        /// run's last remote command (a few milliseconds) may already be done, and miss.
        static func countedLines(_ output: String, before phase: String) -> Int {
            let lines = output.split(separator: "\n")
            let end = lines.firstIndex { $0.hasPrefix("▸ ") && $0.hasSuffix("[\(phase)]") } ?? lines.endIndex
            return countedLines(lines[..<end].joined(separator: "\n"))
        }
        /// The counted lines of `phases` in a finished run (first to last): where aimed kills go.
        static func lines(of phases: Set<String>, in output: String) -> ClosedRange<Int>? {
            var seen: Set<String> = []
            var first: Int?, last: Int?
            var inside = false
            for line in output.split(separator: "\n") where counts(line) {
                guard seen.insert(key(line)).inserted else { continue }
                if line.hasPrefix("▸ ") {
                    inside = phases.contains(line.split(separator: "[").last.map { String($0.dropLast()) } ?? "")
                    continue
                }
                if inside { first = first ?? seen.count; last = seen.count }
            }
            guard let first, let last else { return nil }
            return first...last
        }
        /// For each phase of a finished run, its first counted line after the header: the first command
        /// about to run, or the first result, with the phase's remaining work still ahead. (A line late in
        /// a phase can be followed by the next phase's header before a kill lands on a loaded machine.)
        static func phaseStarts(_ output: String) -> [String: Int] {
            var seen: Set<String> = []
            var first: [String: Int] = [:]
            var phase = ""
            for line in output.split(separator: "\n") where counts(line) {
                guard seen.insert(key(line)).inserted else { continue }
                if line.hasPrefix("▸ ") {
                    phase = line.split(separator: "[").last.map { String($0.dropLast()) } ?? ""
                    continue
                }
                if first[phase] == nil { first[phase] = seen.count }
            }
            return first
        }
    }

    /// Kill points aimed at the start of these phases' work, so that each gets one however many lines other
    /// phases print; the other points are spread over the run.
    static let aimed: [Int: String] = [1: "push-config", 5: "install-rke2", 9: "start-initial-server", 13: "join-servers", 17: "bridges"]

    /// path → "mode hash" of each managed file a snapshot lists.
    private func files(_ snapshot: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in snapshot.split(separator: "\n") where line.hasPrefix("/") {
            let parts = line.split(separator: " ").map(String.init)
            result[parts[0]] = parts.dropFirst().joined(separator: " ")
        }
        return result
    }

    /// Half of the 20 kill points, on one 3-node cluster (two servers, one agent): kills land on the
    /// `k`-th line of `up -v` (a command about to run, or a step's result), spread over the whole run.
    /// Returns the phase each kill landed in.
    private func killAndRecover(_ name: String, nodes: [String], points: [Int], of total: Int) async throws -> [String] {
        let cluster = try await UpCluster.make(name, [.init(name: nodes[0], role: "server"), .init(name: nodes[1], role: "server"),
                                                      .init(name: nodes[2], role: "agent")])
        let reference = try await cluster.upStreaming(["-v"]) { _, _ in }
        try #require(reference.status == 0, "the uninterrupted run: \(reference.stdout.suffix(1500))")
        let lineCount = Killer.countedLines(reference.stdout, before: "unlock")
        let starts = Killer.phaseStarts(reference.stdout)
        var expected: [String: String] = [:]
        for node in nodes { expected[node] = try await UpCluster.snapshot(node, identity: false) }

        var phases: [String] = []
        for point in points {
            let at = Self.aimed[point].flatMap { starts[$0] } ?? max(1, lineCount * (2 * point + 1) / (2 * total))
            await withTaskGroup(of: Void.self) { group in
                for node in nodes { group.addTask { try? await UpCluster.reset(node) } }
            }
            let killer = Killer(at: at)
            let killed = try await cluster.upStreaming(["-v"]) { line, pid in killer.line(line, pid) }
            let printed = killed.stdout.split(separator: "\n")
            let lastLine = printed.last.map(String.init) ?? ""
            #expect(killed.status != 0, "the run was killed at line \(at) of \(lineCount), before it finished (it printed \(Killer.countedLines(killed.stdout)))")
            let header = printed.last { $0.hasPrefix("▸ ") } ?? ""
            phases.append(header.split(separator: "[").last.map { String($0.dropLast()) } ?? "before any phase")
            for node in nodes {
                let now = files(try await UpCluster.snapshot(node, identity: false))
                let wanted = files(expected[node]!)
                for (path, state) in now {
                    #expect(state == wanted[path], "kill at line \(at) (\(lastLine)): \(node):\(path) is partial or wrong: \(state)")
                }
            }
            let rerun = try await cluster.up()
            #expect(rerun.status == 0, "re-run after a kill at line \(at) (\(lastLine)): \(rerun.stdout.suffix(1500))")
            for node in nodes {
                #expect(try await UpCluster.snapshot(node, identity: false) == expected[node], "\(node) after a kill at line \(at) (\(lastLine))")
            }
        }
        return phases
    }

    @Test func killedAtTwentyPointsARerunConverges() async throws {
        _ = try Lab.require(nodes: 79)
        // Four clusters in parallel, five kill points each: most of a run is waiting on the doubles.
        let phases = try await withThrowingTaskGroup(of: [String].self) { group in
            for (index, first) in [68, 71, 74, 77].enumerated() {
                group.addTask {
                    try await killAndRecover("kill-\(index)", nodes: (first..<first + 3).map { "lab\($0)" },
                                             points: Array(stride(from: index, to: 20, by: 4)), of: 20)
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(phases.count == 20)
        // The kills land all over the run, not only in one phase.
        let distinct = Set(phases)
        #expect(distinct.count >= 8, "kills landed in \(phases)")
        for phase in ["push-config", "install-rke2", "start-initial-server", "join-servers", "bridges"] {
            #expect(distinct.contains(phase), "no kill during \(phase): \(phases)")
        }
    }

    @Test func aCutLinkFailsThatNodeOnlyAndARerunConverges() async throws {
        let cluster = try await UpCluster.make("cut", [.init(name: "lab8", role: "server"), .init(name: "lab9", role: "agent"),
                                                       .init(name: "lab10", role: "agent")])
        defer { try? Lab.fault("lab10", "link-up") }
        // 30 s: long enough for a loaded machine's `systemctl start` on the nodes that still answer.
        let run = try await cluster.upCuttingLink(of: "lab10", at: "start-initial-server", ["--command-timeout", "30s"])
        #expect(run.status == 1)
        let failed = run.stdout.split(separator: "\n").filter { $0.contains("lab10") && $0.contains("failed") }
        #expect(!failed.isEmpty, "lab10's failure is reported: \(run.stdout.suffix(2000))")
        #expect(run.stdout.contains("lab10: join-agents:") || run.stdout.contains("lab10: bridges:"), "the summary names node and phase: \(run.stdout.suffix(800))")
        for node in ["lab8", "lab9"] {
            #expect(run.stdout.contains("  \(node) ") && !run.stdout.contains("\(node): "), "\(node) finished")
            #expect(try await UpCluster.snapshot(node).contains("br0 port eth1"), "\(node)'s bridge, which does not depend on lab10")
        }
        try Lab.fault("lab10", "link-up")
        let rerun = try await cluster.up()
        #expect(rerun.status == 0, "\(rerun.stdout.suffix(1500))")
        #expect(try await UpCluster.snapshot("lab10").contains("rke2-agent active enabled"))
    }

    /// The initial server's link cut mid-run: the failure says the node stopped answering, which timeout
    /// ran out and how to change it; releasing the run lock then does not wait on the dead node again
    /// (the next run takes the lock over).
    @Test func aDeadInitialServerIsNotWaitedOnTwice() async throws {
        let cluster = try await UpCluster.make("dead-initial", [.init(name: "lab19", role: "server")])
        defer { try? Lab.fault("lab19", "link-up") }
        let run = try await cluster.upCuttingLink(of: "lab19", at: "install-rke2", ["--command-timeout", "10s"])
        #expect(run.status == 1)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cluster.stateDirectory + "/last-run.json"))) as? [String: Any]
        let steps = report?["steps"] as? [[String: Any]] ?? []
        let install = steps.first { $0["phase"] as? String == "install-rke2" }
        let why = install?["detail"] as? String ?? ""
        #expect(why.contains("the node stopped answering") || why.contains("command did not finish within 10s"), "\(why)")
        #expect(why.contains("raise ssh.connectTimeout") || why.contains("raise --command-timeout"), "names the timeout to change: \(why)")
        let unlock = steps.first { $0["phase"] as? String == "unlock" }
        let unlockDetail = unlock?["detail"] as? String ?? ""
        #expect(unlockDetail.contains("skipped: the node stopped answering earlier in this run"), "\(String(describing: unlock))")
        try Lab.fault("lab19", "link-up")
        let rerun = try await cluster.up()
        #expect(rerun.status == 0, "the next run takes the lock over: \(rerun.stdout.suffix(1500))")
    }
}
