import Foundation
import SSH
import TestSupport
import Testing

/// The manifest server serves the memo's components, and the API double's controllers bring them up
/// the way the real operators do. Node lab23 only (its own cluster).
@Suite("Lab manifest server and simulated controllers", .enabled(if: !Lab.skipped, Lab.skipReason))
struct LabComponentsTests {
    static let kubevirt = "github.com/kubevirt/kubevirt/releases/download/v1.1.1/"
    static let cdi = "github.com/kubevirt/containerized-data-importer/releases/download/v1.59.0/"
    static let localPath = "raw.githubusercontent.com/rancher/local-path-provisioner/v0.0.28/deploy/local-path-storage.yaml"
    static let multus = "raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/v4.0.2/deployments/multus-daemonset.yml"

    @Test func releaseURLsRedirectLikeGitHubAndFollowTheVersion() throws {
        let lab = try Lab.require()
        let plain = try LocalProcess.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                                                  lab.manifests_url + Self.kubevirt + "kubevirt-operator.yaml"])
        #expect(plain.stdout.hasPrefix("302 "), "release downloads redirect, as on GitHub")
        #expect(plain.stdout.hasSuffix("/objects.githubusercontent.com/github.com/kubevirt/kubevirt/releases/download/v1.1.1/kubevirt-operator.yaml"))
        let bumped = try ManifestProbe.fetch(lab.manifests_url + "github.com/kubevirt/kubevirt/releases/download/v1.2.0/kubevirt-operator.yaml")
        #expect(bumped.status == 0 && bumped.body.contains("quay.io/kubevirt/virt-operator:v1.2.0"))
        let secure = try ManifestProbe.fetch(lab.manifests_https_url + Self.localPath, caFile: lab.manifests_ca)
        #expect(secure.status == 0 && secure.body.contains("kind: StorageClass"))
        #expect(try ManifestProbe.fetch(lab.manifests_https_url + Self.localPath).status == 60, "the lab's CA is not a public one")
        #expect(try ManifestProbe.fetch(lab.manifests_url + "nothing/here.yaml").status == 22, "404")
        let image = try LocalProcess.run("curl", ["-s", "-o", "/dev/null", "-w", "%{size_download}", lab.manifests_url + "images/lab-disk.qcow2"])
        #expect(image.stdout == "\(4 << 20)")
    }

    /// Applies every document of a manifest, waiting for kinds whose CRD is not served yet.
    private func applyAll(_ probe: KubeProbe, _ url: String, except skipped: Set<String> = []) async throws -> [String] {
        let fetched = try ManifestProbe.fetch(try Lab.require().manifests_url + url)
        try #require(fetched.status == 0, "fetching \(url)")
        var kinds: [String] = []
        for document in try ManifestProbe.documents(fetched.body) where !skipped.contains(document.kind) {
            let path = KubeProbe.path(kind: document.kind, name: document.name, namespace: document.namespace)
            var answer = try probe.apply(path, document.yaml)
            let deadline = Date().addingTimeInterval(30)
            while answer.status == 404 && Date() < deadline {  // a CR right after its CRD
                try await Task.sleep(for: .milliseconds(300))
                answer = try probe.apply(path, document.yaml)
            }
            #expect(answer.status == 201 || answer.status == 200, "\(document.kind) \(document.name): \(answer.body.prefix(300))")
            kinds.append(document.kind)
        }
        return kinds
    }

    @Test func theMemosComponentsComeUpAndAVMRuns() async throws {
        let probe = try await KubeProbe.startServer(on: "lab23")
        try await probe.wait(for: "node lab23 Ready", "/api/v1/nodes/lab23") { KubeProbe.hasCondition($0, "Ready") }

        // KubeVirt's CR does nothing without its operator, as with the real one.
        let kinds = try await applyAll(probe, Self.kubevirt + "kubevirt-operator.yaml", except: ["Deployment"])
        #expect(kinds.contains("CustomResourceDefinition") && kinds.contains("PriorityClass") && kinds.contains("ClusterRoleBinding"))
        _ = try await applyAll(probe, Self.kubevirt + "kubevirt-cr.yaml")
        let crPath = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"
        try await Task.sleep(for: .seconds(5))
        #expect(!KubeProbe.hasCondition(try probe.request("GET", crPath), "Available"), "Available without an operator")
        let vms = try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines")
        #expect(vms.status == 404, "the operator, not the manifest, brings the VirtualMachine CRD: \(vms.status) \(vms.body.prefix(300))")
        _ = try await applyAll(probe, Self.kubevirt + "kubevirt-operator.yaml")
        let kubevirt = try await probe.wait(for: "KubeVirt Available", crPath) { KubeProbe.hasCondition($0, "Available") }
        #expect(kubevirt.string("status", "phase") == "Deployed")

        _ = try await applyAll(probe, Self.localPath)
        try await probe.wait(for: "local-path-provisioner available", "/apis/apps/v1/namespaces/local-path-storage/deployments/local-path-provisioner") {
            $0.value(["status", "availableReplicas"]) as? Int == 1
        }
        _ = try await applyAll(probe, Self.cdi + "cdi-operator.yaml")
        _ = try await applyAll(probe, Self.cdi + "cdi-cr.yaml")
        try await probe.wait(for: "CDI Available", "/apis/cdi.kubevirt.io/v1beta1/cdis/cdi") { KubeProbe.hasCondition($0, "Available") }
        // As CDI does: CDIConfig has an upload proxy URL only once an Ingress routes to the proxy (or an override is set).
        let config = "/apis/cdi.kubevirt.io/v1beta1/cdiconfigs/config"
        try await probe.wait(for: "CDIConfig config", config) { $0.status == 200 }
        #expect(try probe.request("GET", config).value(["status", "uploadProxyURL"]) == nil)
        #expect(try probe.apply("/apis/networking.k8s.io/v1/namespaces/cdi/ingresses/cdi-uploadproxy", """
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: cdi-uploadproxy, namespace: cdi}
            spec:
              rules:
                - host: cdi-upload.lab.test
                  http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: cdi-uploadproxy, port: {number: 443}}}}]}
            """).status == 201)
        try await probe.wait(for: "CDIConfig showing the Ingress's host", config) { $0.string("status", "uploadProxyURL") == "cdi-upload.lab.test" }
        _ = try await applyAll(probe, Self.multus)
        try await probe.wait(for: "multus ready", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-multus-ds") {
            $0.value(["status", "numberAvailable"]) as? Int == 1
        }
        try await probe.wait(for: "NetworkAttachmentDefinition served", "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions") {
            $0.status == 200
        }
        #expect(try probe.apply("/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/net-101", """
            apiVersion: k8s.cni.cncf.io/v1
            kind: NetworkAttachmentDefinition
            metadata: {name: net-101}
            spec: {config: '{"cniVersion":"0.3.1","type":"bridge","bridge":"br0"}'}
            """).status == 201)

        let image = try Lab.require().manifests_url + "images/lab-disk.qcow2"
        for (name, source) in [("disk", "http: {url: \"\(image)\"}"), ("scratch", "blank: {}"), ("broken", "http: {url: \"\(image).missing\"}")] {
            #expect(try probe.apply("/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/\(name)", """
                apiVersion: cdi.kubevirt.io/v1beta1
                kind: DataVolume
                metadata: {name: \(name)}
                spec:
                  source: {\(source)}
                  storage: {resources: {requests: {storage: 1Gi}}}
                """).status == 201)
        }
        #expect(try probe.apply("/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm1", """
            apiVersion: kubevirt.io/v1
            kind: VirtualMachine
            metadata: {name: vm1}
            spec:
              running: true
              template:
                spec:
                  networks: [{name: net, multus: {networkName: net-101}}]
                  volumes: [{name: root, dataVolume: {name: disk}}]
            """).status == 201)
        for name in ["disk", "scratch"] {
            try await probe.wait(for: "DataVolume \(name) Succeeded", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/\(name)") {
                $0.string("status", "phase") == "Succeeded"
            }
        }
        try await probe.wait(for: "vm1 Running", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm1") {
            $0.string("status", "printableStatus") == "Running"
        }
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1").string("status", "phase") == "Running")
        let broken = try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/broken")
        #expect(broken.string("status", "phase") != "Succeeded")
        let log = try String(contentsOfFile: try Lab.require().manifests_access_log, encoding: .utf8)
        #expect(log.contains("GET /images/lab-disk.qcow2 200"), "the import really fetched the image")
    }
}
