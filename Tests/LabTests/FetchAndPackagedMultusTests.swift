import Foundation
import Kube
import TestSupport
import Testing

/// `parvester fetch` against the lab's copy of the release downloads, an airgap `up --offline` from
/// what it fetched, and RKE2's packaged Multus instead of the thin plugin. Nodes lab25-lab26 only.
@Suite("fetch, and RKE2's packaged Multus", .enabled(if: !Lab.skipped, Lab.skipReason))
struct FetchAndPackagedMultusTests {
    struct Fetch {
        var status: Int32
        var stdout: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:] }
        /// name → outcome of every file.
        var outcomes: [String: String] {
            var result: [String: String] = [:]
            for line in json["files"] as? [[String: Any]] ?? [] {
                let file = line["file"] as? [String: Any] ?? [:]
                result[file["name"] as? String ?? ""] = file["outcome"] as? String
            }
            return result
        }
    }

    func fetch(_ cluster: UpCluster, _ arguments: [String] = [], cache: String) throws -> Fetch {
        let result = try LocalProcess.run(LocalProcess.builtProduct("parvester").path,
                                          ["fetch", "-i", cluster.inventoryPath, "--output", "json"] + arguments,
                                          environment: ["PARVESTER_CACHE_DIR": cache])
        return Fetch(status: result.status, stdout: result.stdout)
    }

    /// Inode, mtime and sha256 of every file in a directory, for "left alone" checks.
    func identities(_ directory: String) throws -> String {
        try Lab.local(["sh", "-c", "cd '\(directory)' && for f in *; do echo \"$(stat -c '%n %i %.9Y' \"$f\") $(sha256sum < \"$f\" | cut -c1-16)\"; done"])
    }

    @Test func fetchThenAnOfflineAirgapBuildWithRKE2sMultus() async throws {
        let lab = try Lab.require(nodes: 26)
        var cluster = try await UpCluster.make("fetch", [.init(name: "lab25", role: "server"), .init(name: "lab26", role: "agent")],
                                               topExtra: "networks: [{name: net-101}]")
        let artifacts = cluster.directory.appendingPathComponent("artifacts").path
        let cache = cluster.directory.appendingPathComponent("cache").path
        cluster.install = "  install: {method: airgap, artifactsDir: \(artifacts)}"
        cluster.components = try UpCluster.labComponents(tag: "fetch-\(UUID().uuidString.prefix(8))", extra: ", multus: {source: rke2}")
        try cluster.writeInventory()

        // Before fetching, an offline check names what is missing.
        let missing = try fetch(cluster, ["--offline"], cache: cache)
        #expect(missing.status == 1 && (missing.json["error"] as? String)?.contains("is not in the manifest cache") == true, "\(missing.stdout)")

        // Everything comes down: manifests (no Multus manifest: RKE2 brings its own) and the artifacts,
        // byte for byte the release's (the lab's), install.sh aside (the served one knows its URL).
        let first = try fetch(cluster, cache: cache)
        #expect(first.status == 0, "\(first.stdout)")
        #expect(first.outcomes == ["local-path-storage.yaml": "fetched", "kubevirt-operator.yaml": "fetched", "kubevirt-cr.yaml": "fetched",
                                   "cdi-operator.yaml": "fetched", "cdi-cr.yaml": "fetched", "rke2.linux-amd64.tar.gz": "fetched",
                                   "rke2-images.linux-amd64.tar.zst": "fetched", "install.sh": "fetched", "sha256sum-amd64.txt": "fetched"])
        for name in ["rke2.linux-amd64.tar.gz", "rke2-images.linux-amd64.tar.zst", "sha256sum-amd64.txt"] {
            #expect(try Lab.local(["sha256sum", "\(artifacts)/\(name)"]).prefix(64) == (try Lab.local(["sha256sum", "\(lab.artifacts)/\(name)"])).prefix(64), "\(name)")
        }

        // Again: nothing downloaded into place, every file left as it was.
        let before = try identities(artifacts)
        let second = try fetch(cluster, cache: cache)
        #expect(second.status == 0 && Set(second.outcomes.values) == ["unchanged"], "\(second.outcomes)")
        #expect(try identities(artifacts) == before)

        // A damaged archive is put back from the version's copy in the cache; the offline check then passes.
        try Data("truncated".utf8).write(to: URL(fileURLWithPath: "\(artifacts)/rke2.linux-amd64.tar.gz"))
        let repaired = try fetch(cluster, cache: cache)
        #expect(repaired.outcomes["rke2.linux-amd64.tar.gz"] == "from-cache" && repaired.outcomes["install.sh"] == "unchanged", "\(repaired.outcomes)")
        let offlineCheck = try fetch(cluster, ["--offline"], cache: cache)
        #expect(offlineCheck.status == 0 && Set(offlineCheck.outcomes.values) == ["cached"], "\(offlineCheck.stdout)")

        // Another version: only downloaded files carry its name, and going back needs no network.
        let newer = "v1.29.6+rke2r1", newerArtifacts = try #require(lab.artifacts_by_version[newer])
        cluster.clusterExtra = "  version: \"\(newer)\""
        try cluster.writeInventory()
        let stale = try fetch(cluster, ["--offline"], cache: cache)
        #expect(stale.status == 1 && (stale.json["error"] as? String ?? "").contains("holds RKE2 v1.28.11+rke2r1's artifacts, not \(newer)'s"), "the old files are not \(newer)'s: \(stale.stdout)")
        let other = try fetch(cluster, cache: cache)
        #expect(other.status == 0 && other.outcomes["rke2.linux-amd64.tar.gz"] == "fetched", "\(other.stdout)")
        #expect(try Lab.local(["sha256sum", "\(artifacts)/rke2.linux-amd64.tar.gz"]).prefix(64) == (try Lab.local(["sha256sum", "\(newerArtifacts)/rke2.linux-amd64.tar.gz"])).prefix(64))
        cluster.clusterExtra = ""
        try cluster.writeInventory()
        let back = try fetch(cluster, ["--offline"], cache: cache)
        #expect(back.status == 0 && back.outcomes["rke2.linux-amd64.tar.gz"] == "from-cache", "\(back.stdout)")
        #expect(try Lab.local(["sha256sum", "\(artifacts)/rke2.linux-amd64.tar.gz"]).prefix(64) == (try Lab.local(["sha256sum", "\(lab.artifacts)/rke2.linux-amd64.tar.gz"])).prefix(64))

        // A cluster from what was fetched alone, with RKE2's Multus.
        let up = try await cluster.up(["--output", "json", "--offline"], environment: ["PARVESTER_CACHE_DIR": cache])
        #expect(up.status == 0, "\(up.stdout.suffix(2000))")
        let server = try await Lab.connect("lab25")
        let config = try await server.run("cat /etc/rancher/rke2/config.yaml").stdoutText
        await server.close()
        #expect(config.contains("cni:\n- multus\n- canal\n"))
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab25").address)
        let daemonSet = try probe.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/rke2-multus")
        #expect(daemonSet.status == 200 && daemonSet.value(["status", "numberAvailable"]) as? Int == 2, "\(daemonSet.body)")
        #expect(try probe.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-multus-ds").status == 404,
                "the thin plugin is not applied as well")
        #expect(try probe.request("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/net-101").status == 200)
        let status = try LocalProcess.run(LocalProcess.builtProduct("parvester").path,
                                          ["status", "-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory])
        #expect(status.status == 0 && status.stdout.contains("Multus"), "\(status.stdout)")

        let again = try await cluster.up(["--output", "json", "--offline"], environment: ["PARVESTER_CACHE_DIR": cache])
        #expect(again.status == 0 && again.json["changed"] as? Int == 0, "\(again.outcomes.filter { $0.outcome == "changed" })")
    }

    @Test func aPinThatDoesNotMatchAndAVersionThatDoesNotExistAreRefused() throws {
        _ = try Lab.require(nodes: 26)
        let directory = URL(fileURLWithPath: Lab.directory).appendingPathComponent("up/fetch-bad-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var cluster = UpCluster(name: "fetchbad", directory: directory, members: [.init(name: "lab25", role: "server")], clusterExtra: "", topExtra: "")
        let cache = directory.appendingPathComponent("cache").path
        let artifacts = directory.appendingPathComponent("artifacts").path
        let wrong = String(repeating: "0", count: 64)
        cluster.install = "  install: {method: airgap, artifactsDir: \(artifacts)}"
        cluster.components = try UpCluster.labComponents(extra: ", kubevirt: {sha256: {kubevirt-cr.yaml: \(wrong)}}")
        try cluster.writeInventory()
        let pinned = try fetch(cluster, cache: cache)
        #expect(pinned.status == 1)
        #expect((pinned.json["error"] as? String)?.contains("kubevirt-cr.yaml has sha256") == true, "\(pinned.stdout)")
        #expect((pinned.json["error"] as? String)?.contains("but the inventory pins \(wrong)") == true)

        cluster.components = try UpCluster.labComponents(extra: ", localPathProvisioner: {enabled: false}, kubevirt: {enabled: false}, cdi: {enabled: false}, multus: {enabled: false}")
        cluster.clusterExtra = "  version: v1.29.0+rke2r1"
        try cluster.writeInventory()
        let unknown = try fetch(cluster, cache: cache)
        #expect(unknown.status == 1)
        #expect((unknown.json["error"] as? String)?.contains("v1.29.0%2Brke2r1/sha256sum-amd64.txt") == true, "\(unknown.stdout)")
        #expect((unknown.json["error"] as? String)?.contains("404") == true)
        #expect(!FileManager.default.fileExists(atPath: artifacts + "/rke2.linux-amd64.tar.gz"), "nothing kept")
    }
}
