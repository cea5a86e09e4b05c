import Foundation
import Testing
@testable import ParvesterCore

/// Where components and RKE2's artifacts come from: RKE2's packaged Multus, sha256 pins, and the
/// release URLs `parvester fetch` downloads.
@Suite("Component sources, pins and release URLs")
struct ComponentSourceTests {
    static func inventory(_ components: String, rke2Config: String = "") throws -> Inventory {
        let text = """
            cluster:
              name: lab
              address: 10.0.0.10
            \(rke2Config)
            nodes:
              - {name: s1, address: 10.0.0.11, role: server}
              - {name: s2, address: 10.0.0.12, role: server}
              - {name: a1, address: 10.0.0.13, role: agent}
            components:
            \(components)
            """
        return try InventoryLoader.load(bytes: Array(text.utf8), file: "test.yaml", baseDirectory: "/tmp")
    }

    @Test func packagedMultusPutsCNIIntoEveryServerConfigAndNoManifests() throws {
        let inventory = try Self.inventory("  multus: {source: rke2}")
        let multus = try #require(inventory.components.first { $0.kind == .multus })
        #expect(multus.isRKE2PackagedMultus && multus.manifestURLs.isEmpty)
        let renderer = RKE2ConfigRenderer(inventory: inventory)
        for node in inventory.servers {
            #expect(try renderer.files(for: node, token: Secret("t"))[0].content.contains("cni:\n- multus\n- canal\n"))
        }
        #expect(try !renderer.files(for: inventory.agents[0], token: Secret("t"))[0].content.contains("cni"))
    }

    @Test func theReleaseMultusLeavesRKE2sCNIAlone() throws {
        let inventory = try Self.inventory("  mirror: http://mirror.test/")
        let multus = try #require(inventory.components.first { $0.kind == .multus })
        #expect(!multus.isRKE2PackagedMultus)
        #expect(multus.manifestURLs == ["http://mirror.test/raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/v4.0.2/deployments/multus-daemonset.yml"])
        #expect(try !RKE2ConfigRenderer(inventory: inventory).files(for: inventory.servers[0], token: Secret("t"))[0].content.contains("cni"))
    }

    @Test func aCNIGivenInRKE2ConfigWithMultusIsKeptAsWritten() throws {
        let inventory = try Self.inventory("  multus: {source: rke2}", rke2Config: "  rke2Config: {cni: [multus, cilium]}")
        #expect(inventory.cluster.cni == nil)
        let content = try RKE2ConfigRenderer(inventory: inventory).files(for: inventory.servers[0], token: Secret("t"))[0].content
        #expect(content.contains("cni:\n- multus\n- cilium\n"))
        #expect(content.components(separatedBy: "cni:").count == 2, "cni written once")
    }

    @Test func pinsByFileNameOrURLBecomePinsByURL() throws {
        let hash = String(repeating: "ab", count: 32)
        let other = String(repeating: "cd", count: 32)
        let inventory = try Self.inventory("""
              kubevirt:
                sha256:
                  kubevirt-cr.yaml: \(hash)
                  https://github.com/kubevirt/kubevirt/releases/download/v1.1.1/kubevirt-operator.yaml: \(other)
            """)
        let kubevirt = try #require(inventory.components.first { $0.kind == .kubevirt })
        #expect(kubevirt.pinnedSHA256 == [
            "https://github.com/kubevirt/kubevirt/releases/download/v1.1.1/kubevirt-cr.yaml": hash,
            "https://github.com/kubevirt/kubevirt/releases/download/v1.1.1/kubevirt-operator.yaml": other,
        ])
    }

    @Test func aPinnedManifestWithOtherBytesIsRefusedBeforeAnythingIsApplied() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pins-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("m.yaml")
        try Data("kind: ConfigMap\n".utf8).write(to: file)
        let cache = ManifestCache(directory: directory.appendingPathComponent("cache").path)
        let right = SHA256.hex(Data("kind: ConfigMap\n".utf8))
        #expect(try await cache.text(for: "file://\(file.path)", offline: false, pinned: right) == "kind: ConfigMap\n")
        let wrong = String(repeating: "0", count: 64)
        let error = await #expect(throws: ManifestError.self) {
            try await cache.text(for: "file://\(file.path)", offline: false, pinned: wrong)
        }
        #expect(error?.description.contains("has sha256 \(right), but the inventory pins \(wrong)") == true)
    }

    @Test func rke2ReleaseURLsEncodeThePlusAndGoThroughTheMirror() {
        let direct = RKE2ArtifactFetcher(version: "v1.28.11+rke2r1", directory: "/tmp/a", mirror: nil)
        #expect(direct.url(for: "rke2.linux-amd64.tar.gz") == "https://github.com/rancher/rke2/releases/download/v1.28.11%2Brke2r1/rke2.linux-amd64.tar.gz")
        #expect(direct.url(for: "install.sh") == "https://get.rke2.io")
        let mirrored = RKE2ArtifactFetcher(version: "v1.28.11+rke2r1", directory: "/tmp/a", mirror: "http://10.251.0.1:8080/")
        #expect(mirrored.url(for: "sha256sum-amd64.txt") == "http://10.251.0.1:8080/github.com/rancher/rke2/releases/download/v1.28.11%2Brke2r1/sha256sum-amd64.txt")
        #expect(mirrored.url(for: "install.sh") == "http://10.251.0.1:8080/get.rke2.io")
    }

    @Test func sha256sumFilesParseInTextAndBinaryMode() {
        let a = String(repeating: "a", count: 64), b = String(repeating: "B", count: 64)
        let sums = RKE2ArtifactFetcher.parseSums("\(a)  rke2.linux-amd64.tar.gz\n\(b) *rke2-images.linux-amd64.tar.zst\nnot a line\n")
        #expect(sums == ["rke2.linux-amd64.tar.gz": a, "rke2-images.linux-amd64.tar.zst": b.lowercased()])
    }
}
