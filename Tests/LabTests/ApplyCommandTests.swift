import Foundation
import SSH
import TestSupport
import Testing

/// `parvester apply` and `parvester status` against a lab cluster, as a user runs them. Node lab18 only.
@Suite("parvester apply and status", .enabled(if: !Lab.skipped, Lab.skipReason))
struct ApplyCommandTests {
    static let manifests = [
        "1-widgets.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: team-a}
            data: {size: "3"}
            ---
            apiVersion: probe.parvester.test/v1
            kind: Gadget
            metadata: {name: g1, namespace: team-a}
            spec: {color: blue}
            """,
        "0-base.yaml": """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: Namespace
              metadata: {name: team-a}
            - apiVersion: apiextensions.k8s.io/v1
              kind: CustomResourceDefinition
              metadata: {name: gadgets.probe.parvester.test}
              spec:
                group: probe.parvester.test
                scope: Namespaced
                names: {plural: gadgets, singular: gadget, kind: Gadget}
                versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
            """,
        "notes.txt": "not a manifest: ignored in a directory",
    ]

    private func run(_ arguments: [String]) async throws -> LocalProcess.Output {
        try await LocalProcess.runAsync(LocalProcess.builtProduct("parvester").path, arguments)
    }

    @Test func appliesADirectoryInOrderThenChangesNothingAndDryRunStoresNothing() async throws {
        _ = try Lab.require(nodes: 18)
        let cluster = try await UpCluster.make("apply", [.init(name: "lab18", role: "server")])
        #expect(try await cluster.up().status == 0)
        let directory = cluster.directory.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in Self.manifests { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let target = ["-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory]

        // The CR comes in a file before its CRD's would in a plain loop: the stages order them anyway.
        let first = try await run(["apply", "-f", directory.path] + target)
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let lines = first.stdout.split(separator: "\n").map(String.init)
        #expect(lines.prefix(2) == ["created    Namespace team-a", "created    CustomResourceDefinition gadgets.probe.parvester.test"])
        #expect(lines.contains("created    Gadget team-a/g1") && lines.contains("created    ConfigMap team-a/settings"))
        #expect(lines.last == "4 objects: 4 created")

        // Through per-group discovery (a server without the aggregated kind): the same, unchanged.
        try Lab.kubeFault("lab18", ["legacy-discovery"])
        let again = try await run(["apply", "-f", directory.path, "--output", "json"] + target)
        #expect(again.status == 0)
        let outcomes = ((try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])?["objects"] as? [[String: Any]] ?? [])
            .compactMap { $0["outcome"] as? String }
        #expect(outcomes == ["unchanged", "unchanged", "unchanged", "unchanged"])
        try Lab.kubeFault("lab18", ["clear"])

        // A server-side dry run answers "configured" and stores nothing.
        try Self.manifests["1-widgets.yaml"]!.replacingOccurrences(of: "color: blue", with: "color: red")
            .write(to: directory.appendingPathComponent("1-widgets.yaml"), atomically: true, encoding: .utf8)
        let dry = try await run(["apply", "-f", directory.appendingPathComponent("1-widgets.yaml").path, "--dry-run", "server"] + target)
        #expect(dry.stdout.contains("configured Gadget team-a/g1 (server dry run)"), "\(dry.stdout)")
        let probe = try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8),
                                  address: try Lab.node("lab18").address)
        #expect(try probe.request("GET", "/apis/probe.parvester.test/v1/namespaces/team-a/gadgets/g1").string("spec", "color") == "blue")

        // status: the nodes, and nothing else for a cluster whose inventory enables no component.
        let status = try await run(["status"] + target)
        #expect(status.status == 0, "\(status.stdout)")
        #expect(status.stdout.contains("node      lab18") && status.stdout.contains("Ready=True"))
    }

    @Test func aKubeconfigWithoutVerificationIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-insecure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            current-context: c
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
            users: [{name: c, user: {token: t}}]
            contexts: [{name: c, context: {cluster: c, user: c}}]
            """.write(to: config, atomically: true, encoding: .utf8)
        let manifest = directory.appendingPathComponent("cm.yaml")
        try "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n".write(to: manifest, atomically: true, encoding: .utf8)
        let refused = try await run(["apply", "-f", manifest.path, "--kubeconfig", config.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("insecure-skip-tls-verify: refused"), "\(refused.stderr)")
    }
}
