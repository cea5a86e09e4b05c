import Foundation
import Kube
import SSH
import TestSupport
import Testing

/// `up` applies the memo's components and VM networks through the Kubernetes API, from the lab's
/// manifest server (the lab inventory's mirror). Nodes lab14-lab17 only.
@Suite("up applies the components", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpComponentsTests {
    /// This test's own requests to the manifest server: other suites use it at the same time.
    private func accessLogLines(tagged tag: String) throws -> Int {
        try String(contentsOfFile: try Lab.require().manifests_access_log, encoding: .utf8)
            .split(separator: "\n").filter { $0.contains(" /_/\(tag)/") }.count
    }

    @Test func componentsBecomeAvailableReRunsChangeNothingAndTheCacheServesOffline() async throws {
        _ = try Lab.require(nodes: 15)
        var cluster = try await UpCluster.make("components", [.init(name: "lab14", role: "server"), .init(name: "lab15", role: "agent")],
                                               topExtra: "networks: [{name: net-101}, {name: net-vlan, vlan: 42}]")
        let tag = "components-\(UUID().uuidString.prefix(8))"
        cluster.components = try UpCluster.labComponents(tag: tag)
        try cluster.writeInventory()
        let cache = ["PARVESTER_CACHE_DIR": cluster.directory.appendingPathComponent("cache").path]

        let first = try await cluster.up(["--output", "json"], environment: cache)
        #expect(first.status == 0, "\(first.stdout.suffix(2500))")
        for phase in ["component-localPathProvisioner", "component-kubevirt", "component-cdi", "component-multus", "networks"] {
            #expect(first.outcomes.contains { $0.phase == phase && $0.outcome == "changed" }, "\(phase) applied")
        }
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab14").address)
        #expect(KubeProbe.hasCondition(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"), "Available"))
        #expect(KubeProbe.hasCondition(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/cdis/cdi"), "Available"))
        #expect(try probe.request("GET", "/apis/storage.k8s.io/v1/storageclasses/local-path").status == 200)
        let vlan = try probe.request("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/net-vlan")
        #expect(vlan.string("spec", "config")?.contains(#""vlan":42"#) == true && vlan.string("spec", "config")?.contains(#""bridge":"br0""#) == true)

        // Again: every object unchanged.
        let second = try await cluster.up(["--output", "json"], environment: cache)
        #expect(second.status == 0 && second.json["changed"] as? Int == 0, "\(second.outcomes.filter { $0.outcome == "changed" })")

        // Offline: the cache alone, the manifest server not asked.
        let before = try accessLogLines(tagged: tag)
        #expect(before > 0, "the first run fetched through the tagged mirror")
        let offline = try await cluster.up(["--output", "json", "--offline"], environment: cache)
        #expect(offline.status == 0, "\(offline.stdout.suffix(1500))")
        #expect(try accessLogLines(tagged: tag) == before, "an --offline run downloaded something")
        let empty = ["PARVESTER_CACHE_DIR": cluster.directory.appendingPathComponent("empty-cache").path]
        let missing = try await cluster.up(["--output", "text", "--offline"], environment: empty)
        #expect(missing.status == 1 && missing.stdout.contains("is not in the manifest cache"), "\(missing.stdout.suffix(800))")

        // A burst of 503s from the API while applying is ridden out: the kind a real API server sends while
        // it initialises, with Retry-After (KEP-3028), which is asked again whether it answered a read or an
        // apply. (A 503 without Retry-After to a write stands: see KubeClientTests.onlyWhatHealsIsRetried.)
        let burst = try await cluster.upStreaming([], environment: cache) { line, _ in
            if line.contains("[component-kubevirt]") { try? Lab.kubeFault("lab14", ["status", "503", "4", "1"]) }
        }
        #expect(burst.status == 0, "\(burst.stdout.suffix(1500))")

        // Without the bridge CNI plugin on a node, up says so, naming the node.
        let agent = try await Lab.connect("lab15")
        _ = try await agent.run("mv /opt/cni/bin/bridge /opt/cni/bin/bridge.away")
        let noPlugin = try await cluster.up(["--output", "text"], environment: cache)
        _ = try await agent.run("mv /opt/cni/bin/bridge.away /opt/cni/bin/bridge")
        await agent.close()
        #expect(noPlugin.status == 1)
        #expect(noPlugin.stdout.contains("lab15: cni-plugins: /opt/cni/bin/bridge is missing on lab15"), "\(noPlugin.stdout.suffix(800))")

        // A new version applies the new manifests. (KubeVirt: its release file names its version in the
        // virt-operator image; Multus's real file says `:snapshot` whatever the version.)
        cluster.components = try UpCluster.labComponents(tag: tag, extra: ", kubevirt: {version: v1.1.2}")
        try cluster.writeInventory()
        let bumped = try await cluster.up(["--output", "json"], environment: cache)
        #expect(bumped.status == 0, "\(bumped.stdout.suffix(1500))")
        #expect(bumped.outcomes.filter { $0.outcome == "changed" }.map(\.phase) == ["component-kubevirt"])
        let virtOperator = try probe.request("GET", "/apis/apps/v1/namespaces/kubevirt/deployments/virt-operator")
        #expect(virtOperator.body.contains("virt-operator:v1.1.2"))
    }

    @Test func anInvalidObjectStopsWithTheServersMessageNamingFileAndObject() async throws {
        _ = try Lab.require(nodes: 16)
        var cluster = try await UpCluster.make("invalid", [.init(name: "lab16", role: "server")])
        let manifest = cluster.directory.appendingPathComponent("broken.yaml")
        try """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: fine, namespace: default}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: broken, namespace: default}
            spec:
              selector: {matchLabels: {app: one}}
              template: {metadata: {labels: {app: other}}, spec: {containers: [{name: c, image: i}]}}
            """.write(to: manifest, atomically: true, encoding: .utf8)
        cluster.components = "components: {localPathProvisioner: {enabled: false}, kubevirt: {enabled: false}, cdi: {enabled: false}, multus: {manifests: [\"file://\(manifest.path)\"]}}"
        try cluster.writeInventory()
        let run = try await cluster.up(["--output", "text"])
        #expect(run.status == 1)
        #expect(run.stdout.contains("Deployment default/broken from file://\(manifest.path)#2"), "\(run.stdout.suffix(1200))")
        #expect(run.stdout.contains("422 Invalid") && run.stdout.contains("spec.template.metadata.labels"))
    }

    @Test func aServerAddressMissingFromTheCertificateFailsWithATLSErrorSayingSo() async throws {
        _ = try Lab.require(nodes: 17)
        let cluster = try await UpCluster.make("tls", [.init(name: "lab17", role: "server")])
        #expect(try await cluster.up().status == 0)
        let text = try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8)
        // The IPv4-mapped IPv6 form reaches the same server, but is not a name its certificate carries.
        let address = try Lab.node("lab17").address
        let kubeconfig = try Kubeconfig(text: text, source: "test").withServer("https://[::ffff:\(address)]:6443")
        let client = try KubeHTTPClient(credentials: try kubeconfig.credentials())
        let error = await #expect(throws: KubeError.self) { try await client.request("GET", "/version") }
        #expect(error?.kind == .tls)
        #expect(error?.message.contains("does not name") == true && error?.message.contains("cluster.tlsSANs") == true, "\(String(describing: error))")
        // Through the address it does carry, the same kubeconfig works.
        let good = try KubeHTTPClient(credentials: try Kubeconfig(text: text, source: "test").credentials())
        #expect(try await good.request("GET", "/version").status == 200)
    }
}
