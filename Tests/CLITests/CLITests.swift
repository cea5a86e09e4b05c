import Foundation
import TestSupport
import Testing

/// Runs the built `parvester` binary as a user would and checks what it prints and returns.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CLI {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let binary = LocalProcess.builtProduct("parvester")

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIResult {
        let output = try LocalProcess.run(binary.path, arguments, environment: environment, directory: repositoryRoot)
        return CLIResult(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    static func runProgram(_ path: String, _ arguments: [String]) throws -> CLIResult {
        let output = try LocalProcess.run(path, arguments, directory: repositoryRoot)
        return CLIResult(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}

@Suite("The parvester command line")
struct CLITests {
    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: CLI.binary.path), "expected \(CLI.binary.path)")
    }

    @Test func versionFlagAndCommand() throws {
        let flag = try CLI.run(["--version"])
        #expect(flag.status == 0)
        #expect(flag.stdout == "0.1.0\n")
        let command = try CLI.run(["version"])
        #expect(command.status == 0)
        let lines = command.stdout.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(lines == ["parvester", "libssh2", "libcurl", "libyaml"])
    }

    @Test(arguments: [[], ["validate"], ["plan"], ["up"], ["render"], ["version"]])
    func everyCommandHasHelp(_ command: [String]) throws {
        let result = try CLI.run(command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE:"))
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScripts(_ shell: String) throws {
        let result = try CLI.run(["--generate-completion-script", shell])
        #expect(result.status == 0)
        #expect(result.stdout.contains("parvester"))
        #expect(result.stdout.contains("validate"))
    }

    @Test(arguments: ["inventory/single-node.yaml", "inventory/cluster.yaml", "inventory/lab.yaml"])
    func validateAcceptsEveryExample(_ path: String) throws {
        let result = try CLI.run(["validate", "-i", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("✓ \(path) is valid\n"))
        // The lab's inventory names the lab's keys, which exist only while a lab is up: a warning, no more.
        let warnings = result.stderr.split(separator: "\n")
        #expect(warnings.allSatisfy { path == "inventory/lab.yaml" && $0.hasPrefix("warning: ") && $0.contains("does not exist here") }, "\(result.stderr)")
        #expect(!result.stdout.contains("\u{1B}["), "no colour when stdout is not a terminal")
    }

    @Test func validateRejectsWithPositionsAndExitCode2() throws {
        let path = "Tests/ParvesterCoreTests/Fixtures/bad/several-problems.yaml"
        let result = try CLI.run(["validate", "-i", path])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == "error: \(path):6:12: cluster.address: \"10.0.0\" is an IPv4 address in a legacy form (hex, octal or fewer than four parts); write it as four decimal numbers such as 10.0.0.1")
        #expect(lines[3] == "error: 3 problems in \(path); nothing was changed.")
    }

    @Test func validateJSON() throws {
        let good = try CLI.run(["validate", "-i", "inventory/cluster.yaml", "--output", "json"])
        #expect(good.status == 0)
        let report = try CLI.json(good.stdout)
        #expect(report["valid"] as? Bool == true)
        let summary = try #require(report["summary"] as? [String: Any])
        #expect((summary["nodes"] as? [[String: Any]])?.map { $0["name"] as? String } == ["cp1", "cp2", "cp3", "worker1", "worker2"])

        let bad = try CLI.run(["validate", "-i", "Tests/ParvesterCoreTests/Fixtures/bad/wrong-role.yaml", "--output", "json"])
        #expect(bad.status == 2)
        let problems = try #require(try CLI.json(bad.stdout)["problems"] as? [[String: Any]])
        #expect(problems.count == 1)
        #expect(problems[0]["line"] as? Int == 11)
        #expect(problems[0]["column"] as? Int == 11)
        #expect(problems[0]["path"] as? String == "nodes[1].role")
    }

    @Test func planListsPhasesInOrder() throws {
        let result = try CLI.run(["plan", "--from-inventory", "-i", "inventory/cluster.yaml", "--output", "json"])
        #expect(result.status == 0)
        let steps = try #require(try CLI.json(result.stdout)["steps"] as? [[String: Any]])
        // The removal phases have no targets until the API names stray nodes: they are not listed.
        #expect(steps.compactMap { $0["phase"] as? String } == [
            "local-inputs", "connect", "lock", "gather-facts", "validate-hosts", "check-ports", "check-upgrade", "snapshot", "push-config", "roll",
            "install-rke2", "start-initial-server", "join-servers", "join-agents", "bridges", "fetch-kubeconfig", "wait-nodes-ready",
            "label-nodes", "stray-nodes", "component-localPathProvisioner", "component-kubevirt", "component-cdi", "component-multus",
            "cni-plugins", "networks", "images", "vms", "stray-objects", "unlock",
        ])
        #expect(steps[7]["targets"] as? [String] == ["cp1"], "the snapshot before an upgrade, on the initial server")
        #expect(steps[11]["targets"] as? [String] == ["cp1"])
        #expect(steps[12]["targets"] as? [String] == ["cp2", "cp3"])
        #expect(steps[13]["targets"] as? [String] == ["worker1", "worker2"])
    }

    @Test func singleNodePlanHasNoJoins() throws {
        let result = try CLI.run(["plan", "--from-inventory", "-i", "inventory/single-node.yaml"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Start the initial server"))
        #expect(!result.stdout.contains("Join servers"))
        #expect(!result.stdout.contains("Join agents"))
    }

    /// A missing image file or VM password stops `up` before it connects to any node: the node here is a
    /// loopback port where nothing listens, so a run that went on would fail differently.
    @Test func missingLocalInputsStopUpBeforeAnyNodeIsContacted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inventory = directory.appendingPathComponent("inventory.yaml").path
        try """
            cluster: {name: inputs, address: 127.0.0.1}
            ssh: {port: 1, connectTimeout: 2s, identityFile: ./no-such-key}
            nodes: [{name: n1, address: 127.0.0.1, role: server}]
            images: [{name: disk, size: 1Gi, source: {file: ./no-such-disk.qcow2}}]
            vms: [{name: vm1, image: disk, cloudInit: {passwordEnv: PARVESTER_TEST_UNSET_PASSWORD}}]
            """.write(toFile: inventory, atomically: true, encoding: .utf8)
        let result = try CLI.run(["up", "-i", inventory, "--state-dir", directory.appendingPathComponent("state").path, "--output", "json"])
        #expect(result.status == 1)
        let report = try CLI.json(result.stdout)
        let aborted = try #require(report["aborted"] as? String)
        #expect(aborted.contains("image default/disk: cannot read \(directory.path)/no-such-disk.qcow2"), "\(aborted)")
        #expect(aborted.contains("node n1: cannot read the SSH key \(directory.path)/no-such-key (ssh.identityFile)"), "\(aborted)")
        // validate only warns: the inventory is fine on a machine without the key.
        let validated = try CLI.run(["validate", "-i", inventory])
        #expect(validated.status == 0 && validated.stderr.contains("warning: ") && validated.stderr.contains("no-such-key"), "\(validated.stderr)")
        #expect(aborted.contains("$PARVESTER_TEST_UNSET_PASSWORD, which is not set") && aborted.hasSuffix("nothing was changed"))
        let phases = (report["steps"] as? [[String: Any]] ?? []).compactMap { $0["phase"] as? String }
        #expect(phases.isEmpty, "no node step ran: \(phases)")
    }

    @Test func renderNeverPrintsTheToken() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inventory = directory.appendingPathComponent("inv.yaml")
        try """
            cluster: {name: c, address: 10.0.0.1, token: very-secret-token-value}
            nodes: [{name: s1, address: 10.0.0.2, role: server}, {name: a1, address: 10.0.0.3, role: agent}]
            """.write(to: inventory, atomically: true, encoding: .utf8)
        for command in [["render"], ["validate"], ["plan", "--from-inventory"], ["validate", "--output", "json"]] {
            let result = try CLI.run(command + ["-i", inventory.path])
            #expect(result.status == 0)
            #expect(!(result.stdout + result.stderr).contains("very-secret-token-value"), "\(command) printed the token")
        }
        let rendered = try CLI.run(["render", "-i", inventory.path, "--node", "a1"])
        #expect(rendered.stdout.contains("token: \"<token: redacted>\""))
    }

    /// One JSON style for every command: sorted keys (the same bytes on every run), `[]` for an empty
    /// list, and a schemaVersion.
    @Test func jsonDocumentsAreStableAndVersioned() throws {
        for command in [["validate"], ["plan", "--from-inventory"]] {
            let first = try CLI.run(command + ["-i", "inventory/cluster.yaml", "--output", "json"])
            let second = try CLI.run(command + ["-i", "inventory/cluster.yaml", "--output", "json"])
            #expect(first.status == 0 && first.stdout == second.stdout, "\(command)")
            #expect(try CLI.json(first.stdout)["schemaVersion"] as? Int == 1)
            #expect(!first.stdout.contains("[\n\n"), "empty lists print as []")
            let keys = first.stdout.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
            #expect(keys == keys.sorted(), "top-level keys sorted: \(keys)")
        }
        #expect(try CLI.run(["validate", "-i", "inventory/cluster.yaml", "--output", "json"]).stdout.contains("\"problems\" : [],"))
    }

    @Test func missingInventoryOptionIsAUsageError() throws {
        let result = try CLI.run(["validate"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--inventory"))
    }

    @Test func unreadableInventoryIsExit2() throws {
        let result = try CLI.run(["validate", "-i", "/nonexistent/x.yaml"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("/nonexistent/x.yaml: cannot read the inventory: it does not exist"))
    }
}
