import Foundation
import Testing

/// `parvester kubeconfig` on a state directory holding a kubeconfig as `up` writes it (no node needed).
@Suite("parvester kubeconfig")
struct KubeconfigCommandTests {
    static let fetched = """
        apiVersion: v1
        kind: Config
        current-context: default
        clusters:
        - name: default
          cluster: {server: "https://192.168.48.73:6443", certificate-authority-data: Q0E=}
        users:
        - name: default
          user: {client-certificate-data: Q0VSVA==, client-key-data: U0VDUkVULUtFWS1EQVRB}
        contexts:
        - name: default
          context: {cluster: default, user: default}
        """

    private func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-kc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("state"), withIntermediateDirectories: true)
        try Self.fetched.write(to: directory.appendingPathComponent("state/kubeconfig"), atomically: true, encoding: .utf8)
        return directory
    }

    /// The default is useful as it is: the path, for `export KUBECONFIG=$(...)`; --raw gives a working
    /// file through a redirect, --redacted something to look at.
    @Test func printsThePathByDefaultAndTheFileWhenAsked() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("state").path
        let path = try CLI.run(["kubeconfig", "-i", "inventory/single-node.yaml", "--state-dir", state])
        #expect(path.status == 0)
        #expect(path.stdout == state + "/kubeconfig\n")
        let shown = try CLI.run(["kubeconfig", "-i", "inventory/single-node.yaml", "--state-dir", state, "--redacted"])
        #expect(shown.stdout.contains("name: parvester") && shown.stdout.contains("current-context: parvester"), "named after the cluster")
        #expect(!shown.stdout.contains("U0VDUkVULUtFWS1EQVRB"), "the key is redacted")
        let raw = try CLI.run(["kubeconfig", "-i", "inventory/single-node.yaml", "--state-dir", state, "--raw"])
        #expect(raw.stdout.contains("client-key-data: U0VDUkVULUtFWS1EQVRB"), "a redirect gets a kubeconfig that works")
    }

    /// On a terminal (a pty from script(1)) --raw refuses: the key would stay in the scrollback.
    @Test func rawRefusesATerminal() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("state").path
        let command = "\(CLI.binary.path) kubeconfig -i inventory/single-node.yaml --state-dir \(state) --raw"
        let result = try CLI.runProgram("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(result.status == 64, "\(result.stdout)")
        #expect(!result.stdout.contains("U0VDUkVULUtFWS1EQVRB"))
        #expect(result.stdout.contains("refusing to print the cluster-admin key to a terminal"))
    }

    @Test func mergesIntoTheUsersKubeconfigKeepingOtherClusters() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let home = directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".kube"), withIntermediateDirectories: true)
        let config = home.appendingPathComponent(".kube/config")
        try """
            apiVersion: v1
            kind: Config
            current-context: other
            clusters: [{name: other, cluster: {server: "https://other.example:6443"}}]
            users: [{name: other, user: {token: abc}}]
            contexts: [{name: other, context: {cluster: other, user: other}}]
            """.write(to: config, atomically: true, encoding: .utf8)
        let arguments = ["kubeconfig", "-i", "inventory/single-node.yaml", "--state-dir", directory.appendingPathComponent("state").path, "--merge"]
        for _ in 0..<2 {  // merging twice replaces, never duplicates
            let merged = try CLI.run(arguments, environment: ["HOME": home.path, "KUBECONFIG": ""])
            #expect(merged.status == 0, "\(merged.stderr)")
        }
        let text = try String(contentsOf: config, encoding: .utf8)
        #expect(text.contains("name: other") && text.contains("current-context: other"), "the other cluster and the current context stay")
        #expect(text.components(separatedBy: "name: parvester").count - 1 == 3, "one cluster, user and context named parvester:\n\(text)")
        #expect(text.contains("server: https://192.168.48.73:6443"))
        let mode = try FileManager.default.attributesOfItem(atPath: config.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func withoutAFetchedKubeconfigItSaysToRunUp() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-kc-\(UUID().uuidString)")
        let result = try CLI.run(["kubeconfig", "-i", "inventory/single-node.yaml", "--state-dir", directory.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("run `parvester up -i inventory/single-node.yaml` first"))
    }
}
