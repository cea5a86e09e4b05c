import Foundation
import Testing
import YAML
@testable import ParvesterCore

@Suite("The example inventories")
struct ExampleInventoryTests {
    static let examples = FixturePaths.files(in: FixturePaths.exampleInventories, withExtension: "yaml")

    static func load(_ name: String) throws -> Inventory {
        try InventoryLoader.load(path: FixturePaths.exampleInventories.appendingPathComponent(name).path)
    }

    @Test func thereAreTheThreeExamples() {
        #expect(Self.examples == ["cluster.yaml", "lab.yaml", "single-node.yaml"])
    }

    @Test(arguments: examples)
    func everyExampleIsValid(_ name: String) throws {
        let inventory = try Self.load(name)
        #expect(!inventory.servers.isEmpty)
        #expect(inventory.initialServer.role == .server)
    }

    @Test func singleNodeFollowsTheMemo() throws {
        let inventory = try Self.load("single-node.yaml")
        #expect(inventory.cluster.address == "parvester.192.168.48.73.sslip.io")
        #expect(inventory.cluster.tlsSANs == ["parvester.192.168.48.73.sslip.io", "192.168.48.73"])
        #expect(inventory.cluster.version == "v1.28.11+rke2r1")
        #expect(inventory.cluster.writeKubeconfigMode == "0600")
        #expect(inventory.cluster.token == .generated)
        #expect(inventory.cluster.install == .online(scriptURL: "https://get.rke2.io"))
        let node = try #require(inventory.nodes.first)
        #expect(node.ssh.user == "debian")
        #expect(node.ssh.become, "a non-root user needs sudo by default")
        #expect(node.ssh.connectTimeout == .seconds(10))
        #expect(node.uplink == "eth1")
        #expect(inventory.components.map(\.version) == ["v0.0.28", "v1.1.1", "v1.59.0", "v4.0.2"])
        #expect(inventory.components.allSatisfy { $0.enabled })
        #expect(inventory.components[1].manifestURLs == [
            "https://github.com/kubevirt/kubevirt/releases/download/v1.1.1/kubevirt-operator.yaml",
            "https://github.com/kubevirt/kubevirt/releases/download/v1.1.1/kubevirt-cr.yaml",
        ])
        #expect(inventory.vms.first?.cpuCores == 2)
        #expect(inventory.vms.first?.networks == ["net-101"])
    }

    @Test func clusterExampleResolvesDefaultsAndOverrides() throws {
        let inventory = try Self.load("cluster.yaml")
        #expect(inventory.servers.map(\.name) == ["cp1", "cp2", "cp3"])
        #expect(inventory.agents.map(\.name) == ["worker1", "worker2"])
        #expect(inventory.initialServer.name == "cp1")
        #expect(inventory.joiningServers.map(\.name) == ["cp2", "cp3"])
        let cp3 = inventory.nodes[2]
        #expect(cp3.ssh.port == 2222)
        #expect(cp3.ssh.user == "ops")
        #expect(inventory.nodes[0].ssh.port == 22)
        #expect(cp3.ssh.knownHostsFile == NSHomeDirectory() + "/.ssh/known_hosts", "~ is the user's home")
        #expect(inventory.nodes[3].uplink == "eth1", "the bridge's default uplink")
        #expect(inventory.nodes[4].uplink == "enp2s0", "a node's own uplink wins")
        #expect(inventory.nodes[4].labels.map(\.key) == ["topology.kubernetes.io/zone"], "labels reused through an alias")
        #expect(inventory.cluster.rke2Config.map { $0.key.scalar!.value } == ["cni", "etcd-snapshot-retention"])
        #expect(inventory.images.map(\.source) == [
            .url("http://ftp.tku.edu.tw/Linux/AlmaLinux/9/cloud/x86_64/images/AlmaLinux-9-GenericCloud-latest.x86_64.qcow2"), .blank,
        ])
        #expect(inventory.vms.map(\.running) == [true, false])
    }

    @Test func theLabExampleInstallsFromTheLabArtifactsAndFetchesThroughItsMirror() throws {
        let inventory = try Self.load("lab.yaml")
        let artifacts = FixturePaths.exampleInventories.deletingLastPathComponent().appendingPathComponent(".lab/artifacts").standardizedFileURL.path
        #expect(inventory.cluster.install == .airgap(artifactsDirectory: artifacts), "validates without a lab: checked when installing")
        let lab = URL(fileURLWithPath: artifacts).deletingLastPathComponent().path
        #expect(inventory.images.map(\.source) == [.file(lab + "/images/lab-cloud.qcow2")], "the memo's vm1 disk, uploaded")
        #expect(inventory.vms.map(\.name) == ["vm1"] && inventory.vms[0].cloudInit.password == .file(lab + "/vm1-password"))
        #expect(inventory.components.first { $0.kind == .localPathProvisioner }?.manifestURLs ==
                ["http://10.251.0.1:8080/raw.githubusercontent.com/rancher/local-path-provisioner/v0.0.28/deploy/local-path-storage.yaml"])
        #expect(inventory.components.first { $0.kind == .cdi }?.manifestURLs.last ==
                "http://10.251.0.1:8080/github.com/kubevirt/containerized-data-importer/releases/download/v1.59.0/cdi-cr.yaml")
    }

    @Test func aMirrorAppliesToReleaseURLsNotToListedManifests() throws {
        let inventory = try InventoryLoader.load(bytes: Array("""
            cluster: {name: c, address: 10.0.0.1}
            nodes: [{name: s1, address: 10.0.0.3, role: server}]
            components:
              mirror: https://mirror.example/releases
              kubevirt: {version: v1.2.0}
              multus: {manifests: ["https://example.com/multus.yaml"]}
            """.utf8), file: "inline.yaml", baseDirectory: "/")
        #expect(inventory.components.first { $0.kind == .kubevirt }?.manifestURLs.first ==
                "https://mirror.example/releases/github.com/kubevirt/kubevirt/releases/download/v1.2.0/kubevirt-operator.yaml")
        #expect(inventory.components.first { $0.kind == .multus }?.manifestURLs == ["https://example.com/multus.yaml"])
    }

    @Test func theFirstServerInitialisesWhenNoneIsMarked() throws {
        let inventory = try InventoryLoader.load(bytes: Array("""
            cluster: {name: c, address: 10.0.0.1}
            nodes:
              - {name: a1, address: 10.0.0.2, role: agent}
              - {name: s1, address: 10.0.0.3, role: server}
              - {name: s2, address: 10.0.0.4, role: server}
            """.utf8), file: "inline.yaml", baseDirectory: "/")
        #expect(inventory.initialServer.name == "s1")
        #expect(inventory.joiningServers.map(\.name) == ["s2"])
    }

    @Test func stringFieldsKeepWhatWasWritten() throws {
        let inventory = try InventoryLoader.load(bytes: Array("""
            cluster: {name: c, address: 10.0.0.1, writeKubeconfigMode: 0644, token: on}
            nodes: [{name: s1, address: 10.0.0.3, role: server}]
            """.utf8), file: "inline.yaml", baseDirectory: "/")
        #expect(inventory.cluster.writeKubeconfigMode == "0644")
        #expect(inventory.cluster.token == .inline(Secret("on")))
        // The memo's mode is allowed, but named for what it does.
        #expect(inventory.warnings.map(\.description) == ["inline.yaml:1:60: cluster.writeKubeconfigMode: \"0644\" lets every user on the servers read the cluster-admin kubeconfig; leave it out (RKE2's default \"0600\") unless that is what you want"])
    }

    /// Cutting an example at any line must give a clean error or a valid inventory, never a crash.
    @Test(arguments: examples)
    func everyTruncationIsAnErrorOrValid(_ name: String) throws {
        let url = FixturePaths.exampleInventories.appendingPathComponent(name)
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var valid = 0, refused = 0
        for count in 0...lines.count {
            let text = lines.prefix(count).joined(separator: "\n")
            do {
                _ = try InventoryLoader.load(bytes: Array(text.utf8), file: name, baseDirectory: FixturePaths.exampleInventories.path)
                valid += 1
            } catch let error as InventoryError {
                #expect(!error.problems.isEmpty)
                let positioned = error.problems.allSatisfy { $0.file == name && $0.mark.isKnown }
                #expect(positioned, "\(count) lines: \(error)")
                refused += 1
            }
        }
        #expect(valid + refused == lines.count + 1)
        #expect(refused > 0 && valid > 0)
    }
}
