import Foundation
import Kube
import SSH
import TestSupport
import Testing

/// `parvester remove`, `up --prune` and `plan` on lab clusters. Nodes lab81-lab92 only.
@Suite("removing nodes", .enabled(if: !Lab.skipped, Lab.skipReason))
struct RemoveTests {
    static func parvester(_ arguments: [String], _ cluster: UpCluster) async throws -> UpCluster.Run {
        let output = try await LocalProcess.runAsync(LocalProcess.builtProduct("parvester").path,
                                                     arguments + ["-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory, "--wait-timeout", "90s"])
        return UpCluster.Run(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    /// What of RKE2 and Parvester is left on a node: files, units, the bridge.
    static func leftovers(_ node: String) async throws -> String {
        try await Lab.withConnection(node) { connection in try await connection.run("""
            for f in /etc/rancher/rke2 /var/lib/rancher/rke2 /usr/local/bin/rke2 /usr/local/bin/rke2-uninstall.sh \
                     /etc/systemd/system/parvester-bridge-br0.service; do [ -e "$f" ] && echo "$f"; done
            [ -n "$(ls -A /var/lib/parvester 2>/dev/null)" ] && echo /var/lib/parvester
            for u in rke2-server rke2-agent; do systemctl is-active --quiet $u && echo "$u active"; done
            true
            """).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    @Test func removingAServerKeepsQuorumRefusesToBreakItAndTheServerCanJoinAgain() async throws {
        _ = try Lab.require(nodes: 83)
        var cluster = try await UpCluster.make("remove-server", [
            .init(name: "lab81", role: "server"), .init(name: "lab82", role: "server"), .init(name: "lab83", role: "server"),
        ])
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab81").address)
        let labelled = try probe.request("GET", "/api/v1/nodes?labelSelector=parvester.io%2Fcluster%3Dremove-server")
        #expect((labelled.json["items"] as? [Any])?.count == 3, "every node carries the cluster's label")

        // Two of three servers: one would be left, fewer than the majority of 3. Nothing changes.
        let refused = try await Self.parvester(["remove", "lab82", "lab83", "--yes"], cluster)
        #expect(refused.status == 1 && refused.stdout.contains("fewer than the majority"), "\(refused.stdout.suffix(1500))")
        #expect(!refused.stdout.contains("[cordon]"))
        #expect(try await Self.leftovers("lab83").contains("/etc/rancher/rke2"))
        // The initial server is refused too.
        let initial = try await Self.parvester(["remove", "lab81", "--yes"], cluster)
        #expect(initial.status == 1 && initial.stdout.contains("initial server"), "\(initial.stdout.suffix(1500))")
        // Without a terminal and without --yes, nothing happens.
        let unconfirmed = try await Self.parvester(["remove", "lab83"], cluster)
        #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")

        // lab83 leaves the inventory: up and plan name it and change nothing about it.
        cluster.members.removeAll { $0.name == "lab83" }
        try cluster.writeInventory()
        let listed = try await cluster.up(["--output", "text"])
        #expect(listed.status == 0 && listed.stdout.contains("lab83 is in the cluster but not in the inventory"), "\(listed.stdout.suffix(1500))")
        let plan = try await Self.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(plan.status == 0 && plan.stdout.contains("lab83 is in the cluster but not in the inventory"), "\(plan.stdout.suffix(1500))")
        let prunePlan = try await Self.parvester(["plan", "--prune", "--detailed-exitcode"], cluster)
        #expect(prunePlan.status == 3 && prunePlan.stdout.contains("would delete the Node"), "\(prunePlan.stdout.suffix(2000))")

        let removed = try await Self.parvester(["remove", "lab83", "--yes", "--output", "json"], cluster)
        #expect(removed.status == 0, "\(removed.stdout.suffix(2500))")
        let steps = removed.outcomes.filter { $0.target == "lab83" }.map(\.phase)
        #expect(steps == ["connect-removed", "cordon", "drain", "delete-node", "uninstall"] || steps == ["connect-removed", "cordon", "delete-node", "uninstall"],
                "every step per node: \(steps)")
        #expect(try probe.request("GET", "/api/v1/nodes/lab83").status == 404)
        #expect(try await Self.leftovers("lab83") == "", "RKE2 is gone from lab83")
        // The other servers are untouched and Ready.
        let ready = try await cluster.up()
        #expect(ready.status == 0 && ready.json["changed"] as? Int == 0, "\(ready.outcomes.filter { $0.outcome == "changed" })")

        // Again: nothing to remove.
        let again = try await Self.parvester(["remove", "lab83", "--yes"], cluster)
        #expect(again.status == 0 && again.stdout.contains("lab83 is not in the cluster"), "\(again.stdout.suffix(1500))")

        // Back in the inventory: it joins again (its old etcd data went with the uninstall).
        cluster.members.append(.init(name: "lab83", role: "server"))
        try cluster.writeInventory()
        let rejoin = try await cluster.up()
        #expect(rejoin.status == 0, "\(rejoin.stdout.suffix(2500))")
        #expect(rejoin.outcomes.contains { $0.phase == "join-servers" && $0.target == "lab83" && $0.outcome == "changed" })
    }

    /// A server whose Node was deleted and whose etcd data is still there does not come back: RKE2
    /// refuses to start on the data of a removed member. This is why removal runs the uninstall.
    @Test func aRemovedMemberWithItsOldDataDoesNotStartAgain() async throws {
        _ = try Lab.require(nodes: 85)
        let cluster = try await UpCluster.make("removed-member", [.init(name: "lab84", role: "server"), .init(name: "lab85", role: "server")])
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab84").address)
        let held = try probe.request("GET", "/api/v1/nodes/lab85")
        #expect((held.value(["metadata", "finalizers"]) as? [String]) == ["wrangler.cattle.io/managed-etcd-controller"])
        #expect(try probe.request("DELETE", "/api/v1/nodes/lab85").status == 200)
        _ = try await probe.wait(for: "lab85's Node to go once its etcd member is removed", "/api/v1/nodes/lab85", timeout: 60) { $0.status == 404 }
        let connection = try await Lab.connect("lab85")
        // The running server exits once its member is gone; systemd restarts it, and it refuses its old
        // data: the journal says why, and the unit never becomes active again.
        let deadline = Date().addingTimeInterval(90)
        var journal = "", state = ""
        while Date() < deadline {
            journal = try await connection.run("journalctl -u rke2-server -n 20 --no-pager").stdoutText
            state = try await connection.run("systemctl show -p ActiveState,NRestarts rke2-server").stdoutText
            if journal.contains("data-dir used by this member must be removed"), Self.restartedAndDown(state) { break }
            try await Task.sleep(for: .seconds(1))
        }
        #expect(journal.contains("data-dir used by this member must be removed"), "waited 90 s for lab85's rke2-server to refuse its old etcd data: \(journal.suffix(800))")
        #expect(Self.restartedAndDown(state), "restarted and not active: \(state)")
        await connection.close()
    }

    /// `systemctl show -p ActiveState,NRestarts`: restarted at least once, and not active.
    static func restartedAndDown(_ show: String) -> Bool {
        let values = Dictionary(show.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }, uniquingKeysWith: { a, _ in a })
        return (Int(values["NRestarts"] ?? "") ?? 0) > 0 && values["ActiveState"] != "active"
    }

    @Test func aNodeThatDoesNotAnswerIsRemovedOnlyWithUnreachable() async throws {
        _ = try Lab.require(nodes: 87)
        let cluster = try await UpCluster.make("remove-unreachable", [.init(name: "lab86", role: "server"), .init(name: "lab87", role: "agent")])
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        try Lab.fault("lab87", "link-down")
        defer { try? Lab.fault("lab87", "link-up") }
        let refused = try await Self.parvester(["remove", "lab87", "--yes"], cluster)
        #expect(refused.status == 1 && refused.stdout.contains("--unreachable") && refused.stdout.contains("nothing was changed"), "\(refused.stdout.suffix(1500))")
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab86").address)
        #expect(try probe.request("GET", "/api/v1/nodes/lab87").status == 200)
        #expect(try probe.request("GET", "/api/v1/nodes/lab87").value(["spec", "unschedulable"]) == nil, "not even cordoned")

        let removed = try await Self.parvester(["remove", "lab87", "--yes", "--unreachable"], cluster)
        #expect(removed.status == 0 && removed.stdout.contains("left dirty"), "\(removed.stdout.suffix(2000))")
        #expect(try probe.request("GET", "/api/v1/nodes/lab87").status == 404)
    }

    @Test func upPruneRemovesAnAgentTheInventoryDropped() async throws {
        _ = try Lab.require(nodes: 89)
        var cluster = try await UpCluster.make("prune-node", [.init(name: "lab88", role: "server"), .init(name: "lab89", role: "agent")])
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        let converged = try await Self.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(converged.status == 0 && converged.stdout.contains("nothing to change"), "\(converged.stdout.suffix(2000))")

        // A pod on lab89 that a PodDisruptionBudget protects: the drain is refused (429) until the budget
        // allows it, retried within --wait-timeout, then fails naming the budget; nothing is deleted.
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab88").address)
        #expect(try probe.request("PATCH", "/api/v1/nodes/lab88", body: #"{"spec":{"unschedulable":true}}"#, contentType: "application/merge-patch+json").status == 200)
        #expect(try probe.apply("/apis/apps/v1/namespaces/default/deployments/guarded", """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: guarded, namespace: default}
            spec:
              replicas: 1
              selector: {matchLabels: {app: guarded}}
              template:
                metadata: {labels: {app: guarded}}
                spec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}
            """).status == 201)
        #expect(try probe.apply("/apis/policy/v1/namespaces/default/poddisruptionbudgets/guarded", """
            apiVersion: policy/v1
            kind: PodDisruptionBudget
            metadata: {name: guarded, namespace: default}
            spec: {minAvailable: 1, selector: {matchLabels: {app: guarded}}}
            """).status == 201)
        _ = try await probe.wait(for: "the guarded pod on lab89", "/api/v1/namespaces/default/pods?labelSelector=app%3Dguarded", timeout: 60) {
            ($0.json["items"] as? [[String: Any]] ?? []).contains { ($0["spec"] as? [String: Any])?["nodeName"] as? String == "lab89" }
        }
        #expect(try probe.request("PATCH", "/api/v1/nodes/lab88", body: #"{"spec":{"unschedulable":false}}"#, contentType: "application/merge-patch+json").status == 200)
        let blocked = try await LocalProcess.runAsync(LocalProcess.builtProduct("parvester").path, [
            "remove", "lab89", "--yes", "-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory, "--wait-timeout", "8s"])
        #expect(blocked.status == 1 && blocked.stdout.contains("The disruption budget guarded needs 1 healthy pods"), "\(blocked.stdout.suffix(1500))")
        #expect(try probe.request("GET", "/api/v1/nodes/lab89").value(["spec", "unschedulable"]) as? Bool == true, "cordoned, not deleted")
        #expect(try probe.request("DELETE", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/guarded").status == 200)

        cluster.members.removeAll { $0.name == "lab89" }
        try cluster.writeInventory()
        let unconfirmed = try await cluster.up(["--output", "text", "--prune"])
        #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("--yes"))
        let pruned = try await cluster.up(["--output", "json", "--prune", "--yes"])
        #expect(pruned.status == 0, "\(pruned.stdout.suffix(2500))")
        #expect(pruned.outcomes.contains { $0.phase == "delete-node" && $0.target == "lab89" && $0.outcome == "changed" })
        #expect(pruned.outcomes.contains { $0.phase == "drain" && $0.target == "lab89" && $0.outcome == "changed" }, "the guarded pod was evicted")
        #expect(try await Self.leftovers("lab89") == "")
        let after = try await Self.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(after.status == 0 && after.stdout.contains("nothing to change"), "\(after.stdout.suffix(2000))")
    }
}

/// `parvester reset` on a lab cluster. Nodes lab90-lab92 only.
@Suite("resetting a cluster", .enabled(if: !Lab.skipped, Lab.skipReason))
struct ResetTests {
    @Test func resetLeavesNothingOnAnyNodeKeepsTheTokenAndARerunConverges() async throws {
        _ = try Lab.require(nodes: 92)
        let cluster = try await UpCluster.make("reset", [
            .init(name: "lab90", role: "server"), .init(name: "lab91", role: "server"), .init(name: "lab92", role: "agent"),
        ])
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        let unconfirmed = try await RemoveTests.parvester(["reset"], cluster)
        #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("--yes"))
        #expect(try await RemoveTests.leftovers("lab92").contains("/etc/rancher/rke2"), "nothing changed without --yes")

        let reset = try await RemoveTests.parvester(["reset", "--yes", "--output", "json"], cluster)
        #expect(reset.status == 0, "\(reset.stdout.suffix(2500))")
        // Agents first, then servers, the initial server last.
        #expect(reset.outcomes.filter { $0.phase == "reset-node" }.map(\.target) == ["lab92", "lab91", "lab90"])
        #expect(Set(reset.outcomes.filter { $0.phase == "verify-reset" && $0.outcome == "ok" }.map(\.target)) == ["lab90", "lab91", "lab92"])
        for node in ["lab90", "lab91", "lab92"] {
            #expect(try await RemoveTests.leftovers(node) == "", "\(node) is clean")
            let connection = try await Lab.connect(node)
            #expect(try await connection.run("test -e /sys/class/net/br0").exitStatus != 0, "\(node) has no bridge")
            await connection.close()
        }
        let state = (try? FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory)) ?? []
        #expect(!state.contains("kubeconfig") && !state.contains("last-run.json"), "\(state)")
        let kept = try #require(state.first { $0.hasPrefix("token-before-reset-") }, "\(state)")
        #expect(try String(contentsOfFile: cluster.stateDirectory + "/" + kept, encoding: .utf8).hasPrefix("K10"))
        let notices = reset.json["notices"] as? [String] ?? []
        #expect(notices.contains { $0.contains(kept) }, "the report names the token file: \(notices)")
        #expect(!reset.stdout.contains(try String(contentsOfFile: cluster.stateDirectory + "/" + kept, encoding: .utf8).trimmingCharacters(in: .newlines)))

        // Again: nothing left to do, and still ok.
        let again = try await RemoveTests.parvester(["reset", "--yes", "--output", "json"], cluster)
        #expect(again.status == 0 && again.outcomes.filter { $0.phase == "reset-node" }.allSatisfy { $0.outcome == "unchanged" }, "\(again.stdout.suffix(2000))")
    }
}
