import Foundation
import Kube
import TestSupport
import Testing

/// Removal and prune with VMs, and `plan` as a diff of the cluster's objects, on a cluster with the
/// components. Nodes lab93-lab96 only.
@Suite("removal and plan with VMs", .enabled(if: !Lab.skipped, Lab.skipReason))
struct RemoveWithVMsTests {
    static func probe(_ cluster: UpCluster, _ node: String) throws -> KubeProbe {
        try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8), address: try Lab.node(node).address)
    }

    static let vms = """
        images:
          - {name: disk-a, size: 1Gi, source: {blank: true}}
          - {name: disk-b, size: 1Gi, source: {blank: true}}
        vms:
          - {name: vm-a, image: disk-a, networks: [net-101]}
          - {name: vm-b, image: disk-b, networks: [net-101]}
        """

    @Test func anAgentWithVMsIsRefusedThenItsVMsAreStoppedAndTheNodeRemoved() async throws {
        _ = try Lab.require(nodes: 94)
        var cluster = try await UpCluster.make("remove-vms", [.init(name: "lab93", role: "server"), .init(name: "lab94", role: "agent")],
                                               topExtra: "networks: [{name: net-101}]\n" + Self.vms)
        cluster.components = try UpCluster.labComponents()
        try cluster.writeInventory()
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2500))")
        let probe = try Self.probe(cluster, "lab93")
        // The scheduler spread the VMs: one on each node, with its virt-launcher pod there.
        let onAgent = ["vm-a", "vm-b"].filter {
            (try? probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/\($0)").string("status", "nodeName")) == "lab94"
        }
        try #require(onAgent.count == 1, "one VM on lab94")
        let pods = try probe.request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dlab94")
        #expect(((pods.json["items"] as? [[String: Any]]) ?? []).count >= 2, "component pods and a virt-launcher on lab94: \(pods.body.prefix(400))")

        cluster.members.removeAll { $0.name == "lab94" }
        try cluster.writeInventory()
        let refused = try await RemoveTests.parvester(["remove", "lab94", "--yes"], cluster)
        #expect(refused.status == 1 && refused.stdout.contains("default/\(onAgent[0]) (on lab94)") && refused.stdout.contains("--vms stop"),
                "\(refused.stdout.suffix(1500))")
        #expect(try probe.request("GET", "/api/v1/nodes/lab94").value(["spec", "unschedulable"]) == nil, "nothing changed")

        let removed = try await RemoveTests.parvester(["remove", "lab94", "--yes", "--vms", "stop", "--output", "json"], cluster)
        #expect(removed.status == 0, "\(removed.stdout.suffix(2500))")
        let phases = removed.outcomes.filter { $0.target == "lab94" }.map(\.phase)
        #expect(phases == ["connect-removed", "cordon", "stop-vms", "drain", "delete-node", "uninstall"], "\(phases)")
        #expect(removed.outcomes.contains { $0.phase == "drain" && $0.outcome == "changed" }, "pods were evicted")
        #expect(try probe.request("GET", "/api/v1/nodes/lab94").status == 404)
        let left = try probe.request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dlab94")
        #expect(((left.json["items"] as? [Any]) ?? []).isEmpty, "no pod is left on the removed node")

        // The stopped VM is wanted running: plan says so, and up starts it on the node left.
        let plan = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(plan.status == 3 && plan.stdout.contains("would change VirtualMachine default/\(onAgent[0])"), "\(plan.stdout.suffix(2500))")
        let again = try await cluster.up()
        #expect(again.status == 0, "\(again.stdout.suffix(2000))")
        let moved = try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/\(onAgent[0])")
        #expect(moved.string("status", "nodeName") == "lab93" && moved.string("status", "phase") == "Running")
    }

    @Test func planDiffsTheClusterAndPruneDeletesOnlyWhatParvesterMadeAndTheInventoryDropped() async throws {
        _ = try Lab.require(nodes: 96)
        var cluster = try await UpCluster.make("prune-objects", [.init(name: "lab95", role: "server"), .init(name: "lab96", role: "agent")],
                                               topExtra: "networks: [{name: net-101}, {name: net-102}]\n" + Self.vms)
        cluster.components = try UpCluster.labComponents()
        try cluster.writeInventory()
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2500))")
        let probe = try Self.probe(cluster, "lab95")

        // Converged: nothing to change, every component line included.
        let converged = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(converged.status == 0 && converged.stdout.contains("nothing to change"), "\(converged.stdout.suffix(2500))")
        #expect(!converged.stdout.contains("would"), "\(converged.stdout.suffix(2500))")

        // Drift: a VM stopped by hand, a component object changed by another manager.
        #expect(try await ImagesAndVMsTests.parvester(["vm", "stop", "vm-b"], cluster).status == 0)
        let patched = try probe.request("PATCH", "/apis/apps/v1/namespaces/local-path-storage/deployments/local-path-provisioner?fieldManager=someone",
                                        body: #"{"spec":{"replicas":3}}"#, contentType: "application/merge-patch+json")
        #expect(patched.status == 200, "\(patched.body.prefix(300))")
        let drift = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(drift.status == 3, "\(drift.stdout.suffix(2500))")
        #expect(drift.stdout.contains("would change VirtualMachine default/vm-b"), "\(drift.stdout.suffix(2500))")
        #expect(drift.stdout.contains("would change Deployment local-path-storage/local-path-provisioner") && drift.stdout.contains("spec.replicas: 3 → 1"),
                "\(drift.stdout.suffix(2500))")
        let json = try await RemoveTests.parvester(["plan", "--output", "json"], cluster)
        #expect(json.status == 0 && json.json["plan"] as? Bool == true)

        // A network made by hand, without Parvester's label: never pruned.
        let own = try probe.apply("/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/by-hand", """
            apiVersion: k8s.cni.cncf.io/v1
            kind: NetworkAttachmentDefinition
            metadata: {name: by-hand, namespace: default}
            spec: {config: '{"cniVersion":"0.3.1","type":"bridge","bridge":"br0"}'}
            """, manager: "kubectl")
        #expect(own.status == 201)

        // vm-b, disk-b and net-102 leave the inventory: listed, then pruned (the VM before its disk).
        cluster = try await Self.dropping(cluster)
        let listed = try await cluster.up(["--output", "text"])
        #expect(listed.status == 0 && listed.stdout.contains("VirtualMachine default/vm-b belongs to cluster prune-objects but is not in the inventory"),
                "\(listed.stdout.suffix(2500))")
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm-b").status == 200, "listed, not deleted")
        let plan = try await RemoveTests.parvester(["plan", "--prune", "--detailed-exitcode"], cluster)
        #expect(plan.status == 3 && plan.stdout.contains("would delete VirtualMachine default/vm-b") && plan.stdout.contains("would delete DataVolume default/disk-b")
                && plan.stdout.contains("would delete NetworkAttachmentDefinition default/net-102"), "\(plan.stdout.suffix(2500))")
        let pruned = try await cluster.up(["--output", "json", "--prune", "--yes"])
        #expect(pruned.status == 0, "\(pruned.stdout.suffix(2500))")
        let detail = pruned.steps.first { $0["phase"] as? String == "stray-objects" }?["detail"] as? String ?? ""
        #expect(detail.contains("deleted VirtualMachine default/vm-b, DataVolume default/disk-b, NetworkAttachmentDefinition default/net-102"), "\(detail)")
        for path in ["/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm-b", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm-b",
                     "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/disk-b", "/api/v1/namespaces/default/persistentvolumeclaims/disk-b",
                     "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/net-102"] {
            #expect(try probe.request("GET", path).status == 404, "\(path) is gone")
        }
        #expect(try probe.request("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/by-hand").status == 200)
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm-a").status == 200)
        let after = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(after.status == 0, "\(after.stdout.suffix(2000))")
    }

    /// The cluster without vm-b, disk-b and net-102 in its inventory.
    static func dropping(_ cluster: UpCluster) async throws -> UpCluster {
        var cluster = cluster
        cluster.topExtra = """
            networks: [{name: net-101}]
            images:
              - {name: disk-a, size: 1Gi, source: {blank: true}}
            vms:
              - {name: vm-a, image: disk-a, networks: [net-101]}
            """
        try cluster.writeInventory()
        return cluster
    }
}

/// A component that changes its source prunes what the old source applied. Node lab103 only.
@Suite("component source changes", .enabled(if: !Lab.skipped, Lab.skipReason))
struct ComponentSourceChangeTests {
    @Test func multusFromItsReleaseToRKE2sChartDeletesTheReleasesObjectsButNotTheCRD() async throws {
        _ = try Lab.require(nodes: 103)
        let only = ", localPathProvisioner: {enabled: false}, kubevirt: {enabled: false}, cdi: {enabled: false}"
        var cluster = try await UpCluster.make("multus-switch", [.init(name: "lab103", role: "server")])
        cluster.components = try UpCluster.labComponents(extra: only)
        try cluster.writeInventory()
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        let probe = try RemoveWithVMsTests.probe(cluster, "lab103")
        #expect(try probe.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-multus-ds").status == 200)
        let record = try probe.request("GET", "/api/v1/namespaces/kube-system/configmaps/parvester-component-multus")
        #expect(record.status == 200 && (record.string("data", "objects") ?? "").contains("kube-multus-ds"), "\(record.body.prefix(400))")

        cluster.components = try UpCluster.labComponents(extra: only + ", multus: {source: rke2}")
        try cluster.writeInventory()
        let plan = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(plan.status == 3 && plan.stdout.contains("would delete DaemonSet kube-system/kube-multus-ds (not in RKE2's Multus)"), "\(plan.stdout.suffix(2500))")
        let switched = try await cluster.up()
        #expect(switched.status == 0, "\(switched.stdout.suffix(2500))")
        #expect(try probe.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-multus-ds").status == 404)
        #expect(try probe.request("GET", "/api/v1/namespaces/kube-system/configmaps/parvester-component-multus").status == 404)
        #expect(try probe.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/rke2-multus").status == 200)
        #expect(try probe.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/network-attachment-definitions.k8s.cni.cncf.io").status == 200,
                "the CRD stays: it holds the networks")
        let again = try await cluster.up()
        #expect(again.status == 0 && again.json["changed"] as? Int == 0, "\(again.outcomes.filter { $0.outcome == "changed" })")
    }
}

/// A component's new release applies, and what the old release had and the new one does not is deleted.
/// Node lab121 only.
@Suite("component version bumps", .enabled(if: !Lab.skipped, Lab.skipReason))
struct ComponentVersionBumpTests {
    @Test func aNewReleasePrunesWhatTheOldOneHadAndTheNewOneDropped() async throws {
        _ = try Lab.require(nodes: 121)
        let others = ", kubevirt: {enabled: false}, cdi: {enabled: false}, multus: {enabled: false}"
        var cluster = try await UpCluster.make("component-bump", [.init(name: "lab121", role: "server")])
        cluster.components = try UpCluster.labComponents(extra: others)
        try cluster.writeInventory()
        let first = try await cluster.up()
        try #require(first.status == 0, "\(first.stdout.suffix(2000))")
        let probe = try RemoveWithVMsTests.probe(cluster, "lab121")
        let role = "/apis/rbac.authorization.k8s.io/v1/namespaces/local-path-storage/roles/local-path-provisioner-role"
        let binding = "/apis/rbac.authorization.k8s.io/v1/namespaces/local-path-storage/rolebindings/local-path-provisioner-bind"
        #expect(try probe.request("GET", role).status == 200 && probe.request("GET", binding).status == 200)

        // The lab's release of this version lacks the Role and the RoleBinding (Tests/Lab/manifests/server.py).
        cluster.components = try UpCluster.labComponents(extra: others + ", localPathProvisioner: {version: v0.0.29-lab.without-role}")
        try cluster.writeInventory()
        let plan = try await RemoveTests.parvester(["plan", "--detailed-exitcode"], cluster)
        #expect(plan.status == 3 && plan.stdout.contains("would delete Role local-path-storage/local-path-provisioner-role"), "\(plan.stdout.suffix(2500))")
        let bumped = try await cluster.up()
        #expect(bumped.status == 0, "\(bumped.stdout.suffix(2500))")
        #expect(try probe.request("GET", role).status == 404, "the Role the old release had is gone")
        #expect(try probe.request("GET", binding).status == 404, "and its RoleBinding")
        #expect(try probe.request("GET", "/apis/apps/v1/namespaces/local-path-storage/deployments/local-path-provisioner").status == 200,
                "what both releases have stays")
        let record = try probe.request("GET", "/api/v1/namespaces/kube-system/configmaps/parvester-component-localpathprovisioner")
        let objects = record.string("data", "objects") ?? ""
        #expect(record.status == 200 && !objects.contains(#""kind":"Role""#) && objects.contains(#""kind":"ClusterRole""#), "the record follows the release: \(objects)")
        let again = try await cluster.up()
        #expect(again.status == 0 && again.json["changed"] as? Int == 0, "\(again.outcomes.filter { $0.outcome == "changed" })")
    }
}
