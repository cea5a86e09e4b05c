import Foundation
import Kube
import SSH
import Testing
@testable import ParvesterCore

/// Phases against scripted nodes: what each decides from the facts, what it runs, and what a plan of it
/// shows, without a lab. The lab tests remain the proof that the commands work on a node.
@Suite("phases against scripted nodes")
struct PhaseTests {
    private func facts(rke2: String? = nil, active: [String: String] = [:]) -> NodeFacts {
        var facts = NodeFacts()
        facts.rke2Version = rke2
        facts.active = active
        return facts
    }

    @Test func installRunsOnlyWhereTheVersionDiffersAndItsPlanRunsNothing() async throws {
        let nodes = ScriptedNodes()
        let observer = RecordingObserver()
        let context = try ScriptedRun.context(nodes: nodes, observer: observer)
        let version = context.inventory.cluster.version
        for node in context.inventory.nodes { context.setFacts(facts(rke2: node.name == "cp1" ? version : nil), for: node) }

        try await InstallPhase().describe(context)
        #expect(context.inventory.nodes.allSatisfy { nodes[$0.name].commands.isEmpty }, "a plan runs no command")
        #expect(observer.outcome("install-rke2", "cp1") == .unchanged)
        #expect(observer.outcome("install-rke2", "cp2") == .changed)

        try await InstallPhase().run(context)
        #expect(nodes["cp1"].commands.isEmpty)
        let cp2 = nodes["cp2"].commands
        #expect(cp2.first?.contains("INSTALL_RKE2_VERSION=\(version)") == true && cp2.first?.contains("INSTALL_RKE2_TYPE=server") == true, "\(cp2)")
        #expect(nodes["worker1"].commands.first?.contains("INSTALL_RKE2_TYPE=agent") == true)
        #expect(context.state(of: context.inventory.nodes[1]).versionChanged)
        #expect(!context.state(of: context.inventory.nodes[0]).versionChanged)
    }

    @Test func aFailedInstallDropsThatNodeAndOnTheInitialServerStopsTheRun() async throws {
        let nodes = ScriptedNodes()
        let observer = RecordingObserver()
        let context = try ScriptedRun.context(nodes: nodes, observer: observer)
        for node in context.inventory.nodes { context.setFacts(facts(), for: node) }
        nodes["worker2"].on("INSTALL_RKE2_VERSION", status: 1)
        try await InstallPhase().run(context)
        #expect(observer.outcome("install-rke2", "worker2") == .failed)
        #expect(Set(context.failedNodes.keys) == ["worker2"])
        #expect(context.failedNodes["worker2"]?.contains("exited with 1") == true)

        nodes["cp1"].on("INSTALL_RKE2_VERSION", status: 1)
        let again = try ScriptedRun.context(nodes: nodes, observer: RecordingObserver())
        for node in again.inventory.nodes { again.setFacts(facts(), for: node) }
        await #expect(throws: RunAbort.self) { try await InstallPhase().run(again) }
    }

    @Test func aPlanDefersTheCNICheckWhereRKE2IsNotRunningYet() async throws {
        let nodes = ScriptedNodes()
        let observer = RecordingObserver()
        let context = try ScriptedRun.context(planning: true, nodes: nodes, observer: observer)
        let version = context.inventory.cluster.version
        for node in context.inventory.nodes {
            let running = node.name != "worker2"
            context.setFacts(facts(rke2: running ? version : nil, active: running ? [node.role == .server ? "rke2-server" : "rke2-agent": "active"] : [:]),
                             for: node)
        }
        nodes["worker1"].on("test -x /opt/cni/bin/bridge", status: 1)
        #expect(CNIPluginsPhase().shouldRun(context), "the example inventory has networks")
        try await CNIPluginsPhase().describe(context)
        #expect(observer.outcome("cni-plugins", "worker2") == .deferred)
        #expect(nodes["worker2"].commands.isEmpty)
        #expect(observer.outcome("cni-plugins", "cp1") == .ok)
        #expect(observer.outcome("cni-plugins", "worker1") == .failed, "a node where RKE2 runs and the plugin is missing fails, as in up")
    }

    @Test func uninstallSaysWhatItRemovedAndNothingOnceClean() async throws {
        #expect(UninstallPhase.summary("removed: killall uninstall unit state") == "rke2-killall.sh, rke2-uninstall.sh, bridge unit, /var/lib/parvester")
        #expect(UninstallPhase.summary("removed:") == nil)
        let script = UninstallPhase.script(try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver()).inventory, wipe: false)
        #expect(script.contains("rke2-killall.sh") && script.contains("rke2-uninstall.sh") && !script.contains("ip link del"))
        #expect(script.contains("parvester-bridge-br0.service"))
    }

    @Test func theRemovalChecksGuardQuorumAndTheInitialServer() throws {
        let inventory = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver()).inventory
        func node(_ name: String, server: Bool) -> KubeNodeInfo {
            KubeNodeInfo(["metadata": ["name": name, "labels": server ? ["node-role.kubernetes.io/control-plane": "true"] : [:]]])!
        }
        let nodes = [node("cp1", server: true), node("cp2", server: true), node("cp3", server: true), node("worker1", server: false)]
        func target(_ name: String, server: Bool) -> RemovalTarget { RemovalTarget(apiNode: node(name, server: server), inventory: inventory) }
        #expect(RemovalChecks.refusal([target("cp3", server: true)], nodes: nodes, inventory: inventory) == nil)
        #expect(RemovalChecks.refusal([target("worker1", server: false)], nodes: nodes, inventory: inventory) == nil)
        #expect(RemovalChecks.refusal([target("cp2", server: true), target("cp3", server: true)], nodes: nodes, inventory: inventory)?.contains("majority") == true)
        #expect(RemovalChecks.refusal([target("cp1", server: true)], nodes: nodes, inventory: inventory)?.contains("initial server") == true)
    }
}

/// More phase decisions against scripted nodes: file pushes and their plan, bridges.
@Suite("push-config and bridges against scripted nodes")
struct PushConfigAndBridgeTests {
    @Test func aPlanDiffsTheNodesFileWritingNothingAndARunWritesOnlyWhatDiffers() async throws {
        let nodes = ScriptedNodes()
        let observer = RecordingObserver()
        let inventory = try InventoryLoader.load(path: FixturePaths.exampleInventories.appendingPathComponent("cluster.yaml").path)
        let token = Secret("scripted-token-value")
        let files = try RKE2ConfigRenderer(inventory: inventory).files(for: inventory.nodes[3], token: token)  // worker1

        func prepared(planning: Bool) throws -> RunContext {
            let context = try ScriptedRun.context(planning: planning, nodes: nodes, observer: observer)
            // The cluster's token, as a generated one is kept: the token phase reads it from there.
            let state = context.options.stateDirectory
            try state.write(Data(token.revealed.utf8), to: state.tokenPath)
            for node in context.inventory.nodes {
                var facts = NodeFacts()
                // worker1 has its file as rendered; worker2 an older one; the others none.
                if node.name == "worker1" { facts.fileHashes = Dictionary(uniqueKeysWithValues: files.map { ($0.path, SHA256.hex($0.content)) }) }
                if node.name == "worker2" { facts.fileHashes = [RKE2ConfigRenderer.configPath: "0000"] }
                context.setFacts(facts, for: node)
            }
            return context
        }
        nodes["worker2"].files[RKE2ConfigRenderer.configPath] = "token: old-token-value\nserver: https://old.example:9345\n"

        let plan = try prepared(planning: true)
        try await PushConfigPhase().describe(plan)
        #expect(observer.outcome("push-config", "worker1") == .unchanged)
        #expect(observer.outcome("push-config", "worker2") == .changed)
        let diff = observer.steps.last { $0.phase == "push-config" && $0.target == "worker2" }?.detail ?? ""
        #expect(diff.contains("- server: https://old.example:9345") && diff.contains("+ server: https://k8s.homelab.example:9345") && diff.contains("token: ********"), "\(diff)")
        #expect(!diff.contains("scripted-token-value") && !diff.contains("old-token-value"), "tokens are masked: \(diff)")
        #expect(plan.inventory.nodes.allSatisfy { nodes[$0.name].writes.isEmpty }, "a plan writes nothing")

        let run = try prepared(planning: false)
        try await PushConfigPhase().run(run)
        #expect(nodes["worker1"].writes.isEmpty, "an up-to-date file is not written again")
        let written = String(decoding: nodes["worker2"].writes[RKE2ConfigRenderer.configPath] ?? Data(), as: UTF8.self)
        #expect(written.contains("token: scripted-token-value"))
        #expect(run.configChanged(run.inventory.nodes[4]) && !run.configChanged(run.inventory.nodes[3]))
        #expect(nodes["worker2"].commands.isEmpty, "a file is written, not echoed through a command line")
    }

    @Test func theBridgeIsSetUpOnlyWhereUnitOrLinksDiffer() throws {
        let context = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver())
        let node = context.inventory.nodes[0]
        let renderer = BridgeUnitRenderer(inventory: context.inventory)
        let file = try renderer.file(for: node)
        let uplink = try #require(node.uplink)
        var facts = NodeFacts()
        facts.fileHashes = [file.path: SHA256.hex(file.content)]
        facts.enabled = [renderer.unitName: "enabled"]
        facts.links = [
            "br0": .init(name: "br0", up: true, master: nil, isBridge: true, addresses: []),
            uplink: .init(name: uplink, up: true, master: "br0", isBridge: false, addresses: []),
        ]
        context.setFacts(facts, for: node)
        guard case .none(.unchanged) = try BridgePhase.work(context, node) else { Issue.record("a bridge in place has no work"); return }
        facts.links[uplink]?.master = nil
        context.setFacts(facts, for: node)
        guard case .setUp(_, _, let unitCurrent) = try BridgePhase.work(context, node) else { Issue.record("an uplink out of the bridge is set up again"); return }
        #expect(unitCurrent, "the unit itself is current: only the links are redone")
    }
}
