import Foundation
import SSH
import TestSupport
import Testing
import YAML

/// The tests' own client for a lab cluster's API (curl with the kubeconfig's CA and client
/// certificate). It checks the doubles; Parvester's client is libcurl inside the product.
struct KubeProbe: Sendable {
    struct Answer: Sendable {
        var status: Int
        var body: String
        var contentType: String
        /// curl's exit status: 0, or why no HTTP answer came (52: empty reply, 60: certificate, ...).
        var curlStatus: Int32

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }

        func string(_ path: String...) -> String? { value(path) as? String }

        func value(_ path: [String]) -> Any? {
            var current: Any? = json
            for key in path { current = (current as? [String: Any])?[key] }
            return current
        }
    }

    let address: String
    let directory: URL

    /// Starts an RKE2 server double on `node` (a fresh install) and reads its kubeconfig.
    static func startServer(on node: String, config: String = "token: probe-token\n") async throws -> KubeProbe {
        let connection = try await Lab.freshRKE2(node)
        defer { Task { await connection.close() } }
        try await Lab.write(connection, config, to: "/etc/rancher/rke2/config.yaml")
        let started = try await connection.run("systemctl enable --now rke2-server", timeout: 60)
        try #require(started.succeeded, "rke2-server on \(node): \(started.stderrText)")
        let text = String(decoding: try await connection.download("/etc/rancher/rke2/rke2.yaml"), as: UTF8.self)
        return try KubeProbe(kubeconfig: text, address: try Lab.node(node).address)
    }

    init(kubeconfig: String, address: String) throws {
        let document = try #require(try YAMLParser.parse(kubeconfig))
        let cluster = document["clusters"]?.sequence?.first?["cluster"]
        let user = document["users"]?.sequence?.first?["user"]
        // Inside the lab directory, so that lab-down removes the keys with the lab.
        directory = URL(fileURLWithPath: Lab.directory).appendingPathComponent("probes/\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (file, value) in [("ca.crt", cluster?["certificate-authority-data"]), ("client.crt", user?["client-certificate-data"]),
                              ("client.key", user?["client-key-data"])] {
            let encoded = try #require(value?.scalar?.value, "\(file) missing from the kubeconfig")
            let data = try #require(Data(base64Encoded: encoded))
            try data.write(to: directory.appendingPathComponent(file))
        }
        self.address = address
    }

    func request(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json",
                 accept: String? = nil, clientCertificate: Bool = true, timeout: Int = 30) throws -> Answer {
        var arguments = ["-s", "-X", method, "--max-time", String(timeout), "--cacert", directory.appendingPathComponent("ca.crt").path,
                         "-w", "\n%{http_code} %{content_type}", "https://\(address):6443\(path)"]
        if clientCertificate {
            arguments += ["--cert", directory.appendingPathComponent("client.crt").path, "--key", directory.appendingPathComponent("client.key").path]
        }
        if body != nil { arguments += ["-H", "Content-Type: \(contentType)", "--data-binary", "@-"] }
        if let accept { arguments += ["-H", "Accept: \(accept)"] }
        let result = try LocalProcess.run("curl", arguments, input: body.map { Data($0.utf8) })
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let trailer = lines.last.map(String.init) ?? ""
        let parts = trailer.split(separator: " ", maxSplits: 1).map(String.init)
        return Answer(status: Int(parts.first ?? "") ?? 0, body: lines.dropLast().joined(separator: "\n"),
                      contentType: parts.count > 1 ? parts[1] : "", curlStatus: result.status)
    }

    /// Server-side apply of one object, as `kubectl apply --server-side` sends it.
    func apply(_ path: String, _ yaml: String, manager: String = "parvester", force: Bool = false) throws -> Answer {
        try request("PATCH", "\(path)?fieldManager=\(manager)\(force ? "&force=true" : "")", body: yaml,
                    contentType: "application/apply-patch+yaml")
    }

    /// Polls until `condition` holds for the answer to GET `path`, or fails naming what it saw last.
    @discardableResult
    func wait(for what: String, _ path: String, timeout: TimeInterval = 60, until condition: (Answer) -> Bool) async throws -> Answer {
        let deadline = Date().addingTimeInterval(timeout)
        var last = try request("GET", path)
        while !condition(last) {
            guard Date() < deadline else {
                throw LabUnavailable("timed out after \(Int(timeout)) s waiting for \(what); last answer \(last.status): \(last.body.prefix(600))")
            }
            try await Task.sleep(for: .milliseconds(300))
            last = try request("GET", path)
        }
        return last
    }

    /// Where an object of the memo's manifests lives (the tests' fixed map; Parvester discovers it).
    static func path(kind: String, name: String, namespace: String?) -> String {
        let ns = namespace ?? "default"
        let table: [String: (String, Bool)] = [
            "Namespace": ("/api/v1/namespaces", false), "ServiceAccount": ("/api/v1/serviceaccounts", true),
            "ConfigMap": ("/api/v1/configmaps", true), "Service": ("/api/v1/services", true),
            "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", false),
            "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1/clusterroles", false),
            "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", false),
            "Role": ("/apis/rbac.authorization.k8s.io/v1/roles", true), "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1/rolebindings", true),
            "PriorityClass": ("/apis/scheduling.k8s.io/v1/priorityclasses", false), "StorageClass": ("/apis/storage.k8s.io/v1/storageclasses", false),
            "Deployment": ("/apis/apps/v1/deployments", true), "DaemonSet": ("/apis/apps/v1/daemonsets", true),
            "KubeVirt": ("/apis/kubevirt.io/v1/kubevirts", true), "CDI": ("/apis/cdi.kubevirt.io/v1beta1/cdis", false),
        ]
        guard let (base, namespaced) = table[kind] else { return "/unknown-kind/\(kind)" }
        guard namespaced else { return "\(base)/\(name)" }
        let parts = base.split(separator: "/")
        return "/" + parts.dropLast().joined(separator: "/") + "/namespaces/\(ns)/\(parts.last!)/\(name)"
    }

    static func hasCondition(_ answer: Answer, _ type: String, _ status: String = "True") -> Bool {
        let conditions = answer.value(["status", "conditions"]) as? [[String: Any]] ?? []
        return conditions.contains { $0["type"] as? String == type && $0["status"] as? String == status }
    }
}

/// A fetch from the lab's manifest server (the test's probe, not Parvester's downloader).
enum ManifestProbe {
    static func fetch(_ url: String, caFile: String? = nil) throws -> (status: Int32, body: String) {
        var arguments = ["-sfL", url]
        if let caFile { arguments += ["--cacert", caFile] }
        let result = try LocalProcess.run("curl", arguments)
        return (result.status, result.stdout)
    }

    /// Each document of a manifest, re-emitted on its own, with its kind and name.
    static func documents(_ text: String) throws -> [(kind: String, name: String, namespace: String?, yaml: String)] {
        try YAMLParser.parseAll(text).compactMap { node in
            guard let kind = node["kind"]?.scalar?.value, let name = node["metadata"]?["name"]?.scalar?.value else { return nil }
            return (kind, name, node["metadata"]?["namespace"]?.scalar?.value, try YAMLEmitter.emit(node))
        }
    }
}
