import Foundation
import TestSupport
import Testing

/// Rolling upgrades: refusals before anything changes, the roll's order proven from the RKE2 doubles'
/// start and stop records, the snapshot taken first. Nodes lab105-lab109 only.
@Suite("rolling upgrades", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpgradeTests {
    static let old = "v1.28.11+rke2r1"
    static let new = "v1.29.6+rke2r1"

    /// The cluster's inventory at `version`, with `artifacts` (the lab's artifacts of that version unless given).
    static func setVersion(_ cluster: inout UpCluster, _ version: String, artifacts: String? = nil) throws {
        let lab = try Lab.require()
        let directory = artifacts ?? lab.artifacts_by_version[version] ?? lab.artifacts
        cluster.install = "  install: {method: airgap, artifactsDir: \(directory)}"
        cluster.clusterExtra = "  version: \"\(version)\""
        try cluster.writeInventory()
    }

    /// The nodes' Node versions, from the API.
    static func versions(_ cluster: UpCluster, _ server: String) throws -> [String: String] {
        let probe = try RemoveWithVMsTests.probe(cluster, server)
        let answer = try probe.request("GET", "/api/v1/nodes")
        let items = answer.value(["items"]) as? [[String: Any]] ?? []
        var result: [String: String] = [:]
        for item in items {
            let name = (item["metadata"] as? [String: Any])?["name"] as? String ?? ""
            result[name] = ((item["status"] as? [String: Any])?["nodeInfo"] as? [String: Any])?["kubeletVersion"] as? String
        }
        return result
    }

    /// Each node's down time in the records: from a stop to the next ready.
    static func downIntervals(_ events: [Lab.LifecycleEvent]) -> [(node: String, from: Double, to: Double)] {
        var open: [String: Double] = [:]
        var result: [(String, Double, Double)] = []
        for event in events.sorted(by: { $0.time < $1.time }) {
            switch event.event {
            case "stop": open[event.node] = event.time
            case "ready": if let from = open.removeValue(forKey: event.node) { result.append((event.node, from, event.time)) }
            default: break
            }
        }
        return result + open.map { ($0.key, $0.value, Double.infinity) }
    }

    @Test func refusalsChangeNothingThenTheRollGoesOneServerAtATimeThenTheAgents() async throws {
        _ = try Lab.require(nodes: 109)
        let servers = ["lab105", "lab106", "lab107"], agents = ["lab108", "lab109"]
        var cluster = try await UpCluster.make("upgrade", servers.map { .init(name: $0, role: "server") } + agents.map { .init(name: $0, role: "agent") })
        try Self.setVersion(&cluster, Self.old)
        let built = try await cluster.up()
        try #require(built.status == 0, "\(built.stdout.suffix(2000))")
        let nodes = servers + agents
        var files: [String: String] = [:]
        for node in nodes { files[node] = try await UpCluster.snapshot(node) }

        // Two minor versions at once: refused, with the path.
        try Self.setVersion(&cluster, "v1.30.2+rke2r1", artifacts: try Lab.require().artifacts)
        var since = Date().timeIntervalSince1970
        let skip = try await cluster.up([])
        #expect(skip.status == 1 && skip.stdout.contains("v1.28 → v1.29 → v1.30"), "\(skip.stdout.suffix(1500))")
        // An option a running cluster cannot change: refused, naming it.
        cluster.install = "  install: {method: airgap, artifactsDir: \(try Lab.require().artifacts)}"
        cluster.clusterExtra = "  version: \"\(Self.old)\"\n  rke2Config: {cluster-cidr: 10.99.0.0/16}"
        try cluster.writeInventory()
        let cidr = try await cluster.up([])
        #expect(cidr.status == 1 && cidr.stdout.contains("cluster-cidr would change from unset to \"10.99.0.0/16\""), "\(cidr.stdout.suffix(1500))")
        // Artifacts of the old version for the new one: refused before any node is touched.
        try Self.setVersion(&cluster, Self.new, artifacts: try Lab.require().artifacts)
        let validate = try LocalProcess.run(LocalProcess.builtProduct("parvester").path, ["validate", "-i", cluster.inventoryPath])
        #expect(validate.status == 0 && validate.stderr.contains("are RKE2 \(Self.old), but cluster.version is \(Self.new)"), "\(validate.stdout)\(validate.stderr)")
        let wrong = try await cluster.up([])
        #expect(wrong.status == 1 && wrong.stdout.contains("the airgap artifacts in") && wrong.stdout.contains("are RKE2 \(Self.old)"), "\(wrong.stdout.suffix(1500))")
        for node in nodes { #expect(try await UpCluster.snapshot(node) == files[node], "\(node) untouched by the refusals") }
        #expect(try Lab.lifecycle(nodes, since: since).isEmpty, "no RKE2 stopped or started during the refusals")

        // The plan shows the roll node by node.
        try Self.setVersion(&cluster, Self.new)
        let plan = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(plan.status == 3, "\(plan.stdout.suffix(2500))")
        for node in nodes {
            #expect(plan.stdout.contains("\(node)") && plan.stdout.split(separator: "\n").contains { $0.contains(node) && $0.contains("would roll \(Self.old) → \(Self.new)") },
                    "\(node) in the plan: \(plan.stdout.suffix(2500))")
        }
        #expect(try Lab.lifecycle(nodes, since: since).isEmpty, "the plan restarted nothing")

        since = Date().timeIntervalSince1970
        let upgraded = try await cluster.up(["-v"])
        try #require(upgraded.status == 0, "\(upgraded.stdout.suffix(3000))")
        let events = try Lab.lifecycle(nodes, since: since)
        // Order: servers in inventory order, then agents; each node stopped once and ready on the new version.
        let stops = events.filter { $0.event == "stop" }.map(\.node)
        #expect(stops == servers + agents || (Array(stops.prefix(3)) == servers && Set(stops.suffix(2)) == Set(agents)), "stops: \(stops)")
        for node in nodes {
            #expect(events.contains { $0.node == node && $0.event == "ready" && $0.version == Self.new }, "\(node) came back on \(Self.new): \(events.filter { $0.node == node })")
        }
        let down = Self.downIntervals(events)
        let serversDown = down.filter { servers.contains($0.node) }
        for (i, a) in serversDown.enumerated() {
            for b in serversDown[(i + 1)...] {
                #expect(a.to <= b.from || b.to <= a.from, "\(a.node) and \(b.node) were down at once: \(a) \(b)")
            }
        }
        let lastServerReady = serversDown.map(\.to).max() ?? 0
        for agent in down.filter({ agents.contains($0.node) }) {
            #expect(agent.from >= lastServerReady, "\(agent.node) stopped before the last server was back")
        }
        #expect(try Self.versions(cluster, "lab105") == Dictionary(uniqueKeysWithValues: nodes.map { ($0, Self.new) }))

        // The snapshot was taken first and is on this machine, with the token beside it.
        let snapshots = URL(fileURLWithPath: cluster.stateDirectory).appendingPathComponent("snapshots")
        let taken = try FileManager.default.contentsOfDirectory(atPath: snapshots.path)
        #expect(taken.count == 1 && taken[0].hasPrefix("parvester-pre-upgrade-v1.29.6-rke2r1-lab105-"), "\(taken)")
        if let name = taken.first {
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: snapshots.appendingPathComponent("\(name)/snapshot.json"))) as? [String: Any]
            let data = try Data(contentsOf: snapshots.appendingPathComponent("\(name)/snapshot"))
            #expect(meta?["sha256"] as? String == String(try Lab.local(["sha256sum", snapshots.appendingPathComponent("\(name)/snapshot").path]).prefix(64)))
            #expect(data.count > 0 && FileManager.default.fileExists(atPath: snapshots.appendingPathComponent("\(name)/token").path))
            #expect(!upgraded.stdout.contains(String(decoding: try Data(contentsOf: snapshots.appendingPathComponent("\(name)/token")), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                    "the token never reaches the output")
        }

        // Done: a re-run restarts nothing; a downgrade is refused.
        since = Date().timeIntervalSince1970
        let again = try await cluster.up()
        #expect(again.status == 0 && again.json["changed"] as? Int == 0, "\(again.outcomes.filter { $0.outcome == "changed" })")
        try Self.setVersion(&cluster, Self.old)
        let down2 = try await cluster.up([])
        #expect(down2.status == 1 && down2.stdout.contains("cannot be downgraded"), "\(down2.stdout.suffix(1500))")
        #expect(try Lab.lifecycle(nodes, since: since).isEmpty, "nothing restarted")
    }
}

/// The roll killed with SIGKILL at points spread over it: each re-run converges on the new version, with
/// every node uncordoned and no restart left pending. Nodes lab110-lab115 only.
@Suite("upgrades recover from kills", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpgradeRecoveryTests {
    typealias Killer = UpRecoveryTests.Killer

    /// A fresh cluster at the old version, its inventory then moved to the new one.
    static func built(_ cluster: inout UpCluster) async throws {
        for member in cluster.members { try await UpCluster.reset(member.name) }
        try UpgradeTests.setVersion(&cluster, UpgradeTests.old)
        let built = try await cluster.up()
        try #require(built.status == 0, "the cluster at \(UpgradeTests.old): \(built.stdout.suffix(1500))")
        try UpgradeTests.setVersion(&cluster, UpgradeTests.new)
    }

    private func killRoll(_ name: String, nodes: [String], points: [Int]) async throws {
        var cluster = try await UpCluster.make(name, [.init(name: nodes[0], role: "server"), .init(name: nodes[1], role: "server"),
                                                      .init(name: nodes[2], role: "agent")])
        try await Self.built(&cluster)
        let reference = try await cluster.upStreaming(["-v"]) { _, _ in }
        try #require(reference.status == 0, "the uninterrupted upgrade: \(reference.stdout.suffix(2000))")
        let range = try #require(Killer.lines(of: ["snapshot", "roll"], in: reference.stdout), "the roll's lines in \(reference.stdout.suffix(2000))")
        for point in points {
            try await Self.built(&cluster)
            let at = range.lowerBound + (range.count - 1) * (2 * point + 1) / 20
            let killer = Killer(at: at)
            let killed = try await cluster.upStreaming(["-v"]) { line, pid in killer.line(line, pid) }
            let last = killed.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(killed.status != 0, "the upgrade was killed at line \(at) (\(range))")
            let rerun = try await cluster.up()
            #expect(rerun.status == 0, "re-run after a kill at line \(at) (\(last)): \(rerun.stdout.suffix(2000))")
            let probe = try RemoveWithVMsTests.probe(cluster, nodes[0])
            let items = try probe.request("GET", "/api/v1/nodes").value(["items"]) as? [[String: Any]] ?? []
            for item in items {
                let node = (item["metadata"] as? [String: Any])?["name"] as? String ?? "?"
                let version = ((item["status"] as? [String: Any])?["nodeInfo"] as? [String: Any])?["kubeletVersion"] as? String
                #expect(version == UpgradeTests.new, "kill at \(at) (\(last)): \(node) runs \(version ?? "?")")
                #expect((item["spec"] as? [String: Any])?["unschedulable"] as? Bool != true, "kill at \(at) (\(last)): \(node) is left cordoned")
            }
            for node in nodes {
                let marker = try await Lab.withConnection(node) { try await $0.run("test -e /var/lib/parvester/restart-pending && echo pending; true") }
                #expect(!marker.stdoutText.contains("pending"), "kill at \(at) (\(last)): \(node) has a restart pending")
            }
            let again = try await cluster.up()
            #expect(again.status == 0 && again.json["changed"] as? Int == 0, "kill at \(at): a third run changes nothing: \(again.outcomes.filter { $0.outcome == "changed" })")
        }
    }

    @Test func killedAtTenPointsOfTheRollARerunConverges() async throws {
        _ = try Lab.require(nodes: 115)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await killRoll("kill-roll-0", nodes: ["lab110", "lab111", "lab112"], points: [0, 2, 4, 6, 8]) }
            group.addTask { try await killRoll("kill-roll-1", nodes: ["lab113", "lab114", "lab115"], points: [1, 3, 5, 7, 9]) }
            try await group.waitForAll()
        }
    }
}

/// Snapshots saved, listed, restored (from a server and from this machine), and the certificates'
/// dates. Nodes lab116-lab118 only.
@Suite("snapshots and restore", .enabled(if: !Lab.skipped, Lab.skipReason))
struct SnapshotRestoreTests {
    @Test func aRestoreBringsBackWhatWasDeletedAfterTheSnapshot() async throws {
        _ = try Lab.require(nodes: 118)
        let cluster = try await UpCluster.make("restore", [.init(name: "lab116", role: "server"), .init(name: "lab117", role: "server"),
                                                           .init(name: "lab118", role: "agent")])
        let built = try await cluster.up()
        try #require(built.status == 0, "\(built.stdout.suffix(2000))")
        let probe = try RemoveWithVMsTests.probe(cluster, "lab116")
        let keep = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep-me","namespace":"default"},"data":{"a":"1"}}"#
        #expect(try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: keep).status == 201)

        let saved = try await RemoveTests.parvester(["snapshot", "save", "--name", "before-delete"], cluster)
        try #require(saved.status == 0, "\(saved.stdout.suffix(2000))")
        let listed = try await RemoveTests.parvester(["snapshot", "list", "--output", "json"], cluster)
        let entries = ((try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8))) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        let ours = entries.filter { ($0["name"] as? String ?? "").hasPrefix("before-delete-lab116-") }
        #expect(ours.count == 2 && Set(ours.compactMap { ($0["location"] as? String)?.split(separator: ":").first.map(String.init) }) == ["lab116", "local"],
                "on the server and here: \(listed.stdout.prefix(1500))")
        #expect(Set(ours.compactMap { $0["sha256"] as? String }).count == 1 && (ours.first?["size"] as? Int ?? 0) > 0, "one sha256 and a size: \(ours)")
        let name = try #require(ours.first?["name"] as? String)

        #expect(try probe.request("DELETE", "/api/v1/namespaces/default/configmaps/keep-me").status == 200)
        let later = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"after-snapshot","namespace":"default"}}"#
        #expect(try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: later).status == 201)

        let unconfirmed = try await RemoveTests.parvester(["snapshot", "restore", name], cluster)
        #expect(unconfirmed.status != 0 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stdout)\(unconfirmed.stderr)")
        #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/keep-me").status == 404, "nothing restored without --yes")

        // The plan of it: each server's steps, nothing stopped.
        let planned = Date().timeIntervalSince1970
        let dry = try await RemoveTests.parvester(["snapshot", "restore", name, "--dry-run"], cluster)
        #expect(dry.status == 0 && dry.stdout.contains("nothing was changed"), "\(dry.stdout.suffix(2000))\(dry.stderr)")
        for (node, step) in [("lab116", "would stop rke2-server"), ("lab117", "would stop rke2-server"),
                             ("lab116", "would run rke2 server --cluster-reset from \(name)"), ("lab117", "would move its etcd data aside")] {
            #expect(dry.stdout.split(separator: "\n").contains { $0.contains(node) && $0.contains(step) }, "\(node): \(step) in \(dry.stdout.suffix(2000))")
        }
        #expect(try Lab.lifecycle(["lab116", "lab117"], since: planned).isEmpty, "a dry run stops nothing")
        #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/after-snapshot").status == 200, "nothing restored by a dry run")

        let since = Date().timeIntervalSince1970
        let restored = try await RemoveTests.parvester(["snapshot", "restore", name, "--yes"], cluster)
        try #require(restored.status == 0, "\(restored.stdout.suffix(3000))")
        #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/keep-me").status == 200, "the deleted object is back")
        #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/after-snapshot").status == 404, "what came later is gone")
        // RKE2's procedure: both servers stopped before the initial one restarted; the other one after it.
        let events = try Lab.lifecycle(["lab116", "lab117"], since: since)
        let stops = events.filter { $0.event == "stop" }, readies = events.filter { $0.event == "ready" }
        #expect(Set(stops.map(\.node)) == ["lab116", "lab117"], "\(events.map { "\($0.node) \($0.event)" })")
        let firstReady = try #require(readies.first)
        #expect(firstReady.node == "lab116" && stops.allSatisfy { $0.time < firstReady.time }, "\(events.map { "\($0.node) \($0.event)" })")
        let up = try await cluster.up()
        #expect(up.status == 0, "the restored cluster converges: \(up.stdout.suffix(2000))")

        // From this machine's copy, when the server has none any more.
        _ = try await Lab.withConnection("lab116") { try await $0.run("rm -f /var/lib/rancher/rke2/server/db/snapshots/\(name)") }
        #expect(try probe.request("DELETE", "/api/v1/namespaces/default/configmaps/keep-me").status == 200)
        let local = try await RemoveTests.parvester(["snapshot", "restore", name, "--yes"], cluster)
        #expect(local.status == 0 && local.stdout.contains("uploaded"), "\(local.stdout.suffix(2000))")
        #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/keep-me").status == 200)

        let certs = try await RemoveTests.parvester(["certs", "check", "--output", "json"], cluster)
        let dates = ((try? JSONSerialization.jsonObject(with: Data(certs.stdout.utf8))) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        #expect(certs.status == 0 && Set(dates.compactMap { $0["node"] as? String }) == ["lab116", "lab117"], "\(certs.stdout.prefix(800))\(certs.stderr)")
        #expect(dates.allSatisfy { ($0["daysLeft"] as? Int ?? 0) > 3000 }, "the doubles' certificates last ten years")

        // A certificate 10 days from its end: status names it, with what to do.
        let soon = "/var/lib/rancher/rke2/server/tls/parvester-test-soon.crt"
        _ = try await Lab.withConnection("lab117") {
            try await $0.run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null -out \(soon) "
                             + "-days 10 -subj /CN=soon 2>/dev/null")
        }
        let status = try await LocalProcess.runAsync(LocalProcess.builtProduct("parvester").path,
                                                     ["status", "-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory, "--output", "json"])
        let lines = ((try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8))) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        let certsLine = lines.first { $0["kind"] as? String == "certs" }
        #expect(certsLine?["name"] as? String == "lab117" && certsLine?["ready"] as? Bool == true
                && (certsLine?["detail"] as? String ?? "").contains("parvester-test-soon.crt in 9 days"), "\(status.stdout.prefix(1500))")
        #expect(status.stderr.contains("warning: lab117: \(soon) expires in 9 days") && status.stderr.contains("restart rke2-server"), "\(status.stderr)")
    }
}

/// An upgrade that drains: VMs on local-path disks refuse it, or (upgrade.vms: stop) are stopped for
/// their node's restart and started again after. Nodes lab119-lab120 only.
@Suite("upgrades with VMs", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpgradeWithVMsTests {
    @Test func drainingRefusesVMsThenStopsAndStartsThemAgain() async throws {
        _ = try Lab.require(nodes: 120)
        let machines = "networks: [{name: net-101}]\n" + RemoveWithVMsTests.vms
        var cluster = try await UpCluster.make("upgrade-vms", [.init(name: "lab119", role: "server"), .init(name: "lab120", role: "agent")],
                                               topExtra: machines + "\nupgrade: {drain: true}")
        cluster.components = try UpCluster.labComponents()
        try UpgradeTests.setVersion(&cluster, UpgradeTests.old)
        let built = try await cluster.up()
        try #require(built.status == 0, "\(built.stdout.suffix(2500))")
        let probe = try RemoveWithVMsTests.probe(cluster, "lab119")
        for vm in ["vm-a", "vm-b"] {
            _ = try await probe.wait(for: "\(vm) running on a node", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/\(vm)") {
                $0.status == 200 && $0.string("status", "phase") == "Running" && $0.string("status", "nodeName") != nil
            }
        }

        try UpgradeTests.setVersion(&cluster, UpgradeTests.new)
        let since = Date().timeIntervalSince1970
        let refused = try await RemoveTests.parvester(["upgrade"], cluster)
        #expect(refused.status == 1 && refused.stdout.contains("default/vm-a (on lab1") && refused.stdout.contains("upgrade.vms: stop"),
                "\(refused.stdout.suffix(1500))")
        #expect(try Lab.lifecycle(["lab119", "lab120"], since: since).isEmpty, "nothing restarted")
        for node in ["lab119", "lab120"] {
            #expect(try probe.request("GET", "/api/v1/nodes/\(node)").value(["spec", "unschedulable"]) as? Bool != true, "\(node) not cordoned")
        }

        cluster.topExtra = machines + "\nupgrade: {drain: true, vms: stop}"
        try cluster.writeInventory()
        let upgraded = try await RemoveTests.parvester(["upgrade"], cluster)
        try #require(upgraded.status == 0, "\(upgraded.stdout.suffix(3000))")
        // A roll line lists them after the verb: "stopped default/vm-a, default/vm-b, evicted 9 pods, …".
        func listed(_ verb: String, _ vm: String) -> Bool {
            upgraded.stdout.split(separator: "\n").contains { line in
                line.ranges(of: verb + " ").contains { found in
                    line[found.upperBound...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                        .prefix { $0.hasPrefix("default/") }.contains("default/\(vm)")
                }
            }
        }
        for vm in ["vm-a", "vm-b"] {
            #expect(listed("stopped", vm) && listed("started", vm), "\(vm): \(upgraded.stdout.suffix(3000))")
            let running = try await probe.wait(for: "\(vm) running again", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/\(vm)") {
                $0.status == 200 && $0.string("status", "phase") == "Running"
            }
            #expect(running.string("status", "phase") == "Running")
        }
        #expect(upgraded.stdout.contains("evicted"), "the drain evicted the nodes' pods: \(upgraded.stdout.suffix(3000))")
        #expect(try UpgradeTests.versions(cluster, "lab119") == ["lab119": UpgradeTests.new, "lab120": UpgradeTests.new])
        for node in ["lab119", "lab120"] {
            let live = try probe.request("GET", "/api/v1/nodes/\(node)")
            #expect(live.value(["spec", "unschedulable"]) as? Bool != true, "\(node) uncordoned")
            let marks = (live.value(["metadata", "annotations"]) as? [String: Any] ?? [:]).keys.filter { $0.hasPrefix("parvester.io/") }
            #expect(marks.isEmpty, "\(node): the roll's marks are cleared: \(marks)")
        }

        // A run killed after the uncordon, before its VMs ran again, left the mark: the next run starts them.
        let vmNode = try #require(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm-a").string("status", "nodeName"))
        #expect(try probe.request("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/vm-a/stop", body: "{}").status == 202, "virt-api accepts a stop with 202")
        _ = try await probe.wait(for: "vm-a stopped", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm-a") { $0.status == 404 }
        let mark = #"{"metadata":{"annotations":{"parvester.io/stopped-vms":"default/vm-a,default/vm-b"}}}"#
        #expect(try probe.request("PATCH", "/api/v1/nodes/\(vmNode)", body: mark, contentType: "application/merge-patch+json").status == 200)
        let resumed = try await cluster.up()
        #expect(resumed.status == 0, "\(resumed.stdout.suffix(2000))")
        _ = try await probe.wait(for: "vm-a running again", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm-a") {
            $0.status == 200 && $0.string("status", "phase") == "Running"
        }
        let annotations = try probe.request("GET", "/api/v1/nodes/\(vmNode)").value(["metadata", "annotations"]) as? [String: Any] ?? [:]
        #expect(annotations["parvester.io/stopped-vms"] == nil, "the mark goes once its VMs run: \(annotations)")
    }
}

/// An online install upgrades the same way: the roll runs the install script with the new
/// INSTALL_RKE2_VERSION on each node, one at a time. Nodes lab124-lab125 only.
@Suite("online upgrades", .enabled(if: !Lab.skipped, Lab.skipReason))
struct OnlineUpgradeTests {
    @Test func theInstallScriptFetchesTheNewReleaseOnEachNodeInTurn() async throws {
        let lab = try Lab.require(nodes: 125)
        var cluster = try await UpCluster.make("upgrade-online", [.init(name: "lab124", role: "server"), .init(name: "lab125", role: "agent")])
        cluster.install = "  install: {method: online, scriptURL: \"\(lab.manifests_url)get.rke2.io\"}"
        cluster.clusterExtra = "  version: \"\(UpgradeTests.old)\""
        try cluster.writeInventory()
        let built = try await cluster.up()
        try #require(built.status == 0, "\(built.stdout.suffix(2000))")
        cluster.clusterExtra = "  version: \"\(UpgradeTests.new)\""
        try cluster.writeInventory()
        let since = Date().timeIntervalSince1970
        let upgraded = try await cluster.up(["-v"])
        try #require(upgraded.status == 0, "\(upgraded.stdout.suffix(2500))")
        #expect(upgraded.stdout.contains("INSTALL_RKE2_VERSION=\(UpgradeTests.new)"), "the script ran with the new version")
        #expect(try UpgradeTests.versions(cluster, "lab124") == ["lab124": UpgradeTests.new, "lab125": UpgradeTests.new])
        let stops = try Lab.lifecycle(["lab124", "lab125"], since: since).filter { $0.event == "stop" }.map(\.node)
        #expect(stops == ["lab124", "lab125"], "the server, then the agent: \(stops)")
    }
}

/// A restore killed part way goes on from the step it reached when run again (restore-progress.json),
/// and leaves a cluster `up` converges on. Nodes lab126-lab127 only.
@Suite("restores recover from kills", .enabled(if: !Lab.skipped, Lab.skipReason))
struct RestoreRecoveryTests {
    typealias Killer = UpRecoveryTests.Killer

    private func restore(_ cluster: UpCluster, _ name: String, onLine: @escaping @Sendable (String, Int32) -> Void = { _, _ in }) async throws -> UpCluster.Run {
        let output = try await LocalProcess.runStreaming(LocalProcess.builtProduct("parvester").path,
                                                         ["snapshot", "restore", name, "--yes", "-v", "-i", cluster.inventoryPath,
                                                          "--state-dir", cluster.stateDirectory, "--wait-timeout", "90s"], onLine: onLine)
        return UpCluster.Run(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    @Test func aRestoreKilledAtFourPointsFinishesOnTheRerun() async throws {
        _ = try Lab.require(nodes: 127)
        let cluster = try await UpCluster.make("restore-kill", [.init(name: "lab126", role: "server"), .init(name: "lab127", role: "server")])
        let built = try await cluster.up()
        try #require(built.status == 0, "\(built.stdout.suffix(2000))")
        let probe = try RemoveWithVMsTests.probe(cluster, "lab126")
        let keep = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep-me","namespace":"default"}}"#
        #expect(try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: keep).status == 201)
        let saved = try await RemoveTests.parvester(["snapshot", "save", "--name", "kill", "--output", "json"], cluster)
        try #require(saved.status == 0, "\(saved.stdout.suffix(2000))")
        let listed = try await RemoveTests.parvester(["snapshot", "list", "--output", "json"], cluster)
        let entries = ((try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8))) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        let name = try #require(entries.compactMap { $0["name"] as? String }.first { $0.hasPrefix("kill-lab126-") }, "\(listed.stdout.prefix(1000))")

        let reference = try await restore(cluster, name)
        try #require(reference.status == 0, "the uninterrupted restore: \(reference.stdout.suffix(2000))")
        let range = try #require(Killer.lines(of: ["restore"], in: reference.stdout), "\(reference.stdout.suffix(2000))")
        let progress = cluster.stateDirectory + "/restore-progress.json"
        var resumed = 0
        for point in 0..<4 {
            _ = try probe.request("DELETE", "/api/v1/namespaces/default/configmaps/keep-me")
            let at = range.lowerBound + (range.count - 1) * (2 * point + 1) / 8
            let killer = Killer(at: at)
            let killed = try await restore(cluster, name) { line, pid in killer.line(line, pid) }
            let last = killed.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(killed.status != 0, "the restore was killed at line \(at) (\(range))")
            #expect(FileManager.default.fileExists(atPath: progress), "kill at \(at) (\(last)): the restore's progress is kept")
            // The steps the killed run finished (a kill lands after a step's line, before or after its record).
            let record = (try? Data(contentsOf: URL(fileURLWithPath: progress))).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
            let finished = record?["done"] as? [String] ?? []
            resumed += finished.isEmpty ? 0 : 1
            let rerun = try await restore(cluster, name)
            #expect(rerun.status == 0, "re-run after a kill at line \(at) (\(last)): \(rerun.stdout.suffix(2000))")
            for step in finished {
                #expect(rerun.stdout.contains("done by an earlier run (\(step))"), "kill at \(at) (\(last)): the re-run skips \(step)")
            }
            #expect(!FileManager.default.fileExists(atPath: progress), "kill at \(at): the finished restore forgets its progress")
            #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/keep-me").status == 200, "kill at \(at) (\(last)): restored")
        }
        #expect(resumed >= 2, "the later kill points land after a finished step: \(resumed) of 4 re-runs went on from one")
        let up = try await cluster.up()
        #expect(up.status == 0 && up.json["ok"] as? Bool == true, "the restored cluster converges: \(up.stdout.suffix(2000))")
    }
}
