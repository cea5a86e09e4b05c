import Foundation
import Testing
@testable import ParvesterCore

/// RKE2's host prerequisites from the facts probe's output, through the scripted transport: what the
/// lab cannot give a node (its own clock, swap, sysctls, NetworkManager, ufw) and the decisions.
@Suite("Host checks")
struct HostCheckUnitTests {
    /// The probe's output for a node with everything RKE2 wants, plus `extra` lines.
    func probe(clock: Double = Date().timeIntervalSince1970, _ extra: [String] = [], states: String = "inactive inactive inactive inactive inactive") -> String {
        ([
            "os\tdebian 12", "rke2\t", "units\trke2-server rke2-agent firewalld ufw NetworkManager", "states\t" + states,
            "hostname\tnode", "clock\t\(clock)", "diskfree\t/var/lib 52428800",
            "module\tbr_netfilter available", "module\toverlay loaded", "swap\t0", "cgroup\t2",
            "link\teth1 1 no",
        ] + extra + ["section\tvhv", "-absent-"]).joined(separator: "\n")
    }

    @Test func aCleanNodeHasNoFindings() throws {
        let context = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver())
        let facts = FactsProbe.parse(probe())
        #expect(facts.hostname == "node" && facts.diskFree?.bytes == 50 << 30 && facts.modules["br_netfilter"] == "available" && facts.cgroupVersion == 2)
        #expect(HostChecks.findings(context.inventory.nodes[0], facts, context.inventory.cluster).isEmpty)
    }

    @Test func eachFindingNamesItsFix() throws {
        let context = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver())
        var cluster = context.inventory.cluster
        cluster.rke2Config.append(.init(key: .string("profile"), value: .string("cis")))
        let facts = FactsProbe.parse(probe(["swap\t1", "cgroup\t1", "diskfree\t/var/lib/rancher 1048576", "module\toverlay missing",
                                            "sysctl\tvm/panic_on_oom 0", "sysctl\tvm/overcommit_memory 0", "sysctl\tkernel/panic 0", "sysctl\tkernel/panic_on_oops 1",
                                            "nmunmanaged\tinterface-name:cali*"],
                                           states: "inactive inactive active active active"))
        let found = HostChecks.findings(context.inventory.nodes[0], facts, cluster)
        let text = found.map(\.text).joined(separator: "\n")
        #expect(Set(found.map(\.check)) == [.firewall, .networkManager, .disk, .kernelModules, .sysctls, .swap, .cgroup], "\(text)")
        for expected in ["systemctl disable --now firewalld", "ufw allow 6443,9345,10250,2379:2380/tcp",
                         "unmanaged-devices=interface-name:cali*;interface-name:flannel*", "only 1.0 GiB free under /var/lib/rancher",
                         "modprobe overlay", "kernel.panic=0 (needs 10), vm.overcommit_memory=0 (needs 1)", "kernel.panic=10\\nvm.overcommit_memory=1",
                         "swapoff -a", "systemd.unified_cgroup_hierarchy=1"] {
            #expect(text.contains(expected), "\(expected) in:\n\(text)")
        }
        // NetworkManager told to leave both CNIs' interfaces alone is fine.
        let told = FactsProbe.parse(probe(["nmunmanaged\tinterface-name:cali*;interface-name:flannel*"], states: "inactive inactive inactive inactive active"))
        #expect(HostChecks.findings(context.inventory.nodes[0], told, context.inventory.cluster).isEmpty)
    }

    @Test func levelsComeFromTheInventoryThenTheCheckAndCgroupV1FailsFromKubernetes135() throws {
        let context = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver())
        var cluster = context.inventory.cluster
        #expect(HostChecks.level(.swap, cluster) == .warn && HostChecks.level(.hostname, cluster) == .warn && HostChecks.level(.disk, cluster) == .fail)
        cluster.version = "v1.34.2+rke2r1"
        #expect(HostChecks.level(.cgroup, cluster) == .warn)
        cluster.version = "v1.35.0+rke2r1"
        #expect(HostChecks.level(.cgroup, cluster) == .fail)
        cluster.hostCheckLevels = [.cgroup: .skip, .swap: .fail]
        #expect(HostChecks.level(.cgroup, cluster) == .skip && HostChecks.level(.swap, cluster) == .fail)
    }

    /// Lab nodes share one clock, so skew is shown here: the probe's answers carry each node's clock, and
    /// gather-facts measures them against this machine's around the round trip.
    @Test func aClockAwayFromTheOthersFailsItsNodeOnly() async throws {
        let nodes = ScriptedNodes()
        let observer = RecordingObserver()
        let context = try ScriptedRun.context(nodes: nodes, observer: observer)
        let now = Date().timeIntervalSince1970
        for (i, node) in context.inventory.nodes.enumerated() {
            let skew = node.name == "worker2" ? 42.0 : Double(i) * 0.3
            nodes[node.name].on("echo \"os${t}", stdout: probe(clock: now + skew, ["hostname\t\(node.name)", "ssh\t10.0.0.1 1 \(node.address) 22"]))
        }
        context.connections.start(context, nodes: context.inventory.nodes, phase: "connect")
        try await GatherFactsPhase().run(context)
        // The answers were written before the run (a loaded machine may be seconds late): compare nodes.
        let cp1 = try #require(context.facts(context.inventory.nodes[0])?.clockOffset)
        let cp2 = try #require(context.facts(context.inventory.nodes[1])?.clockOffset)
        #expect(abs(cp2 - cp1 - 0.3) < 0.5, "cp2's clock is 0.3 s ahead of cp1's: \(cp2 - cp1)")
        try await ValidateHostsPhase().run(context)
        #expect(observer.outcome("validate-hosts", "worker2") == .failed)
        let detail = observer.steps.last { $0.target == "worker2" }?.detail ?? ""
        #expect(detail.contains("clock: its clock is 4") && detail.contains("s ahead of the other nodes'") && detail.contains("timedatectl set-ntp true"), "\(detail)")
        for node in context.inventory.nodes where node.name != "worker2" {
            #expect(observer.outcome("validate-hosts", node.name) == .ok, "\(node.name)")
        }
    }

    @Test func theSameHostNameOnTwoNodesIsAWarningNamingBoth() throws {
        let context = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver())
        let facts = context.inventory.nodes.map { node in (node: node, facts: FactsProbe.parse(probe(["hostname\t" + (node.role == .agent ? "debian" : node.name)]))) }
        let found = HostChecks.acrossNodes(facts)
        #expect(Set(found.keys) == ["worker1", "worker2"])
        #expect(found["worker1"]?.first?.text == "hostname: its host name debian is also worker2's; fix: hostnamectl set-hostname worker1")
    }
}
