import Foundation
import Testing
@testable import ParvesterCore

/// Which nodes the roll takes, in which order, and what its plan says, decided from what check-upgrade
/// and push-config learnt (no nodes: the lab tests prove the roll itself).
@Suite("roll decisions")
struct RollDecisionTests {
    private func context(planning: Bool = false) throws -> (RunContext, ScriptedNodes, RecordingObserver) {
        let nodes = ScriptedNodes(), observer = RecordingObserver()
        return (try ScriptedRun.context(planning: planning, nodes: nodes, observer: observer), nodes, observer)
    }

    /// Every node a member on `running`, its binary on `installed` (the target unless said otherwise).
    private func members(_ context: RunContext, running: String, installed: String? = nil) {
        for node in context.inventory.nodes {
            var facts = NodeFacts()
            facts.rke2Version = installed ?? context.inventory.cluster.version
            context.setFacts(facts, for: node)
            context.update(node) { $0.inCluster = true; $0.runningVersion = running }
        }
    }

    private func node(_ context: RunContext, _ name: String) throws -> Node {
        try #require(context.inventory.nodes.first { $0.name == name })
    }

    @Test func aClusterOnItsVersionDoesNotRoll() throws {
        let (context, _, _) = try context()
        members(context, running: context.inventory.cluster.version)
        #expect(context.inventory.nodes.allSatisfy { RollPhase.reason(context, $0) == nil })
        #expect(!RollPhase().shouldRun(context))
    }

    @Test func serversRollFirstTheInitialOneLeadingThenTheAgents() throws {
        let (context, _, _) = try context()
        members(context, running: "v1.27.16+rke2r1", installed: "v1.27.16+rke2r1")
        let (servers, agents) = RollPhase.order(context)
        #expect(servers.map(\.name) == ["cp1", "cp2", "cp3"] && agents.map(\.name) == ["worker1", "worker2"])
        #expect(RollPhase.reason(context, try node(context, "worker2")) == "v1.27.16+rke2r1 → \(context.inventory.cluster.version)")
    }

    @Test func nodesOutsideTheClusterOrFailedAreLeftToInstallAndStart() throws {
        let (context, _, _) = try context()
        members(context, running: "v1.27.16+rke2r1")
        context.update(try node(context, "cp3")) { $0.inCluster = false }
        context.update(try node(context, "worker1")) { $0.failure = "gather-facts: timed out" }
        let (servers, agents) = RollPhase.order(context)
        #expect(servers.map(\.name) == ["cp1", "cp2"] && agents.map(\.name) == ["worker2"])
    }

    /// A kill between the install and the restart leaves the new binary under the old kubelet: the node
    /// still rolls (it must restart). A kill after the restart leaves it cordoned: it finishes.
    @Test func anInterruptedRollIsFinishedFromWhereItStopped() throws {
        let (context, _, _) = try context()
        let target = context.inventory.cluster.version
        members(context, running: target)
        context.update(try node(context, "cp2")) { $0.runningVersion = "v1.27.16+rke2r1" }
        context.update(try node(context, "worker1")) { $0.cordonedByRoll = true }
        #expect(RollPhase.reason(context, try node(context, "cp2")) == "v1.27.16+rke2r1 → \(target)")
        #expect(RollPhase.reason(context, try node(context, "worker1"))?.hasPrefix("finish") == true)
        #expect(RollPhase.reason(context, try node(context, "cp1")) == nil)
    }

    /// A changed configuration restarts the node through the roll, whether it changed in this run or
    /// in one killed before the restart (the marker file on the node says so).
    @Test func aConfigurationChangeRollsAsARestart() throws {
        let (context, _, _) = try context()
        members(context, running: context.inventory.cluster.version)
        context.update(try node(context, "cp3")) { $0.configChanged = true }
        context.update(try node(context, "worker2")) { $0.facts?.fileHashes[RestartMarker.path] = "e3b0c442" }
        let (servers, agents) = RollPhase.order(context)
        #expect(servers.map(\.name) == ["cp3"] && agents.map(\.name) == ["worker2"])
        #expect(RollPhase.reason(context, try node(context, "worker2")) == "restart (configuration changed)")
    }

    @Test func thePlanShowsEachNodesStepsAndRunsNothing() async throws {
        let (context, nodes, observer) = try context(planning: true)
        members(context, running: context.inventory.cluster.version)
        context.update(try node(context, "cp1")) { $0.runningVersion = "v1.27.16+rke2r1" }
        context.update(try node(context, "cp2")) { $0.configChanged = true }
        context.update(try node(context, "worker1")) { $0.cordonedByRoll = true }
        try await RollPhase().describe(context)
        #expect(context.inventory.nodes.allSatisfy { nodes[$0.name].commands.isEmpty }, "a plan runs no command")
        let details = Dictionary(observer.steps.filter { $0.phase == "roll" }.map { ($0.target, $0.detail ?? "") }, uniquingKeysWith: { $1 })
        #expect(details.keys.sorted() == ["cp1", "cp2", "worker1"], "\(details)")
        #expect(details["cp1"]?.hasSuffix("cordon, install, restart, wait Ready, uncordon") == true, "\(details)")
        #expect(details["cp2"]?.hasSuffix("cordon, restart, wait Ready, uncordon") == true, "\(details)")
        #expect(details["worker1"]?.hasSuffix(": wait Ready, uncordon") == true, "\(details)")
    }
}
