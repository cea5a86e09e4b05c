import Foundation
import TestSupport
import Testing

/// `parvester check` as a user runs it, against lab nodes that no fault test touches.
@Suite("parvester check against the lab", .enabled(if: !Lab.skipped, Lab.skipReason))
struct CheckCommandTests {
    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let output = try LocalProcess.run(LocalProcess.builtProduct("parvester").path, arguments, environment: environment)
        return (output.status, output.stdout, output.stderr)
    }

    private func workspace() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func checksRootSudoBastionAndSSHConfigNodes() throws {
        let state = try Lab.require(nodes: 50)
        let directory = try workspace()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The alias resolves only through this ssh config, which also routes it through lab20.
        let config = directory.appendingPathComponent("ssh_config")
        try "Host alias-node\n  HostName \(try Lab.node("lab44").address)\n  ProxyJump root@\(try Lab.node("lab20").address)\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let inventory = directory.appendingPathComponent("inventory.yaml")
        try """
            cluster: {name: lab, address: \(try Lab.node("lab40").address)}
            ssh:
              identityFile: \(state.client_keys["ed25519"]!)
              knownHostsFile: \(state.known_hosts)
              connectTimeout: 5s
            nodes:
              - {name: lab40, address: \(try Lab.node("lab40").address), role: server}
              - {name: lab41, address: \(try Lab.node("lab41").address), role: agent, ssh: {user: pvuser}}
              - name: lab42
                address: \(try Lab.node("lab42").address)
                role: agent
                ssh: {bastion: {address: \(try Lab.node("lab43").address), user: root}}
              - {name: lab44, address: alias-node, role: agent}
            """.write(to: inventory, atomically: true, encoding: .utf8)
        let result = try run(["check", "-i", inventory.path], environment: ["PARVESTER_SSH_CONFIG": config.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        #expect(lines[0].hasPrefix("✓ lab40  10.251.0.50  Debian"))
        #expect(lines[0].contains("sudo not needed (root)"))
        #expect(lines[1].hasPrefix("✓ lab41") && lines[1].contains("sudo works"))
        #expect(lines[2].hasPrefix("✓ lab42"))
        #expect(lines[3].hasPrefix("✓ lab44  alias-node"))
        #expect(lines[4] == "4 of 4 nodes OK")
    }

    @Test func anUnreachableNodeFailsTheRunWithOneLine() throws {
        let state = try Lab.require(nodes: 50)
        let directory = try workspace()
        defer { try? FileManager.default.removeItem(at: directory) }
        let inventory = directory.appendingPathComponent("inventory.yaml")
        // 10.251.3.200 is on the lab's own network, where no node answers.
        try """
            cluster: {name: lab, address: \(try Lab.node("lab45").address)}
            ssh: {identityFile: \(state.client_keys["ed25519"]!), knownHostsFile: \(state.known_hosts), connectTimeout: 1s}
            nodes:
              - {name: lab45, address: \(try Lab.node("lab45").address), role: server}
              - {name: ghost, address: 10.251.3.200, role: agent}
            """.write(to: inventory, atomically: true, encoding: .utf8)
        let result = try run(["check", "-i", inventory.path, "--output", "json"])
        #expect(result.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["ok"] as? Bool == false)
        let nodes = try #require(report["nodes"] as? [[String: Any]])
        #expect(nodes.map { $0["reachable"] as? Bool } == [true, false])
        #expect((nodes[1]["error"] as? String)?.contains("no answer within 1s") == true)
    }
}
