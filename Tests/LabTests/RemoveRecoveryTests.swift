import Foundation
import TestSupport
import Testing

/// `remove` and `reset` killed with SIGKILL at points spread over their run: each re-run converges.
/// Nodes lab97-lab102 only.
@Suite("remove and reset recover from kills", .enabled(if: !Lab.skipped, Lab.skipReason))
struct RemoveRecoveryTests {
    typealias Killer = UpRecoveryTests.Killer

    /// `parvester ARGS -v`, killed at the `at`-th counted line (never, when nil).
    static func run(_ arguments: [String], _ cluster: UpCluster, killingAt at: Int?) async throws -> UpCluster.Run {
        let killer = at.map { Killer(at: $0) }
        let output = try await LocalProcess.runStreaming(LocalProcess.builtProduct("parvester").path,
                                                         arguments + ["-v", "-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory, "--wait-timeout", "90s"],
                                                         onLine: { line, pid in killer?.line(line, pid) })
        return UpCluster.Run(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    static func point(_ index: Int, of total: Int, lines: Int) -> Int { max(1, lines * (2 * index + 1) / (2 * total)) }

    /// Five kill points of `remove` on one cluster of a server and an agent: the agent is removed, killed,
    /// removed again, then joins again for the next point.
    private func killRemove(_ name: String, server: String, agent: String, points: [Int]) async throws {
        let cluster = try await UpCluster.make(name, [.init(name: server, role: "server"), .init(name: agent, role: "agent")])
        try #require(try await cluster.up().status == 0)
        let reference = try await Self.run(["remove", agent, "--yes"], cluster, killingAt: nil)
        try #require(reference.status == 0, "the uninterrupted removal: \(reference.stdout.suffix(1500))")
        let lines = Killer.countedLines(reference.stdout, before: "unlock")
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node(server).address)
        for index in points {
            let back = try await cluster.up()
            try #require(back.status == 0, "\(agent) joins again: \(back.stdout.suffix(1500))")
            let at = Self.point(index, of: 10, lines: lines)
            let killed = try await Self.run(["remove", agent, "--yes"], cluster, killingAt: at)
            #expect(killed.status != 0, "the removal was killed at line \(at) of \(lines) (it printed \(Killer.countedLines(killed.stdout)))")
            let rerun = try await Self.run(["remove", agent, "--yes"], cluster, killingAt: nil)
            let last = killed.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(rerun.status == 0, "re-run after a kill at line \(at) (\(last)): \(rerun.stdout.suffix(1500))")
            #expect(try probe.request("GET", "/api/v1/nodes/\(agent)").status == 404, "kill at \(at) (\(last)): the Node is gone")
            #expect(try await RemoveTests.leftovers(agent) == "", "kill at \(at) (\(last)): \(agent) is clean")
        }
    }

    /// Five kill points of `reset` on one cluster: built, reset and killed, reset again, checked.
    private func killReset(_ name: String, nodes: [String], points: [Int]) async throws {
        let cluster = try await UpCluster.make(name, [.init(name: nodes[0], role: "server"), .init(name: nodes[1], role: "agent")])
        try #require(try await cluster.up().status == 0)
        let reference = try await Self.run(["reset", "--yes"], cluster, killingAt: nil)
        try #require(reference.status == 0, "the uninterrupted reset: \(reference.stdout.suffix(1500))")
        let lines = Killer.countedLines(reference.stdout, before: "unlock")
        for index in points {
            let built = try await cluster.up()
            try #require(built.status == 0, "the cluster is built again: \(built.stdout.suffix(1500))")
            let at = Self.point(index, of: 10, lines: lines)
            let killed = try await Self.run(["reset", "--yes"], cluster, killingAt: at)
            #expect(killed.status != 0, "the reset was killed at line \(at) of \(lines) (it printed \(Killer.countedLines(killed.stdout)))")
            let rerun = try await Self.run(["reset", "--yes"], cluster, killingAt: nil)
            let last = killed.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(rerun.status == 0, "re-run after a kill at line \(at) (\(last)): \(rerun.stdout.suffix(1500))")
            for node in nodes { #expect(try await RemoveTests.leftovers(node) == "", "kill at \(at) (\(last)): \(node) is clean") }
        }
    }

    @Test func removeKilledAtTenPointsConvergesOnARerun() async throws {
        _ = try Lab.require(nodes: 100)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await killRemove("kill-remove-0", server: "lab97", agent: "lab98", points: [0, 2, 4, 6, 8]) }
            group.addTask { try await killRemove("kill-remove-1", server: "lab99", agent: "lab100", points: [1, 3, 5, 7, 9]) }
            try await group.waitForAll()
        }
    }

    @Test func resetKilledAtTenPointsConvergesOnARerun() async throws {
        _ = try Lab.require(nodes: 102)
        try await killReset("kill-reset", nodes: ["lab101", "lab102"], points: Array(0..<10))
    }
}
