import Foundation
import Kube
import ParvesterCore
import SSH
import Testing

@Suite("Connecting: host keys, authentication, sudo, bastions, many nodes", .enabled(if: !Lab.skipped, Lab.skipReason))
struct ConnectionTests {
    private func temporaryFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-kh-\(UUID().uuidString)").path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func knownHostsLine(_ node: String) throws -> String {
        let state = try Lab.require()
        let address = try Lab.node(node).address
        let text = try String(contentsOfFile: state.known_hosts, encoding: .utf8)
        return try #require(text.split(separator: "\n").first { $0.hasPrefix(address + " ") }).description
    }

    @Test func unknownHostKeyIsRefusedWithItsFingerprint() async throws {
        let empty = try temporaryFile("")
        let error = await #expect(throws: SSHError.self) { try await Lab.connect("lab1", options: Lab.options(knownHosts: empty)) }
        #expect(error?.kind == .hostKeyUnknown)
        #expect(error?.node == "lab1")
        #expect(error?.description.contains("lab1 (10.251.0.11:22): unknown host key ssh-ed25519 SHA256:") == true)
    }

    @Test func acceptNewRecordsTheKeyThenStrictAccepts() async throws {
        let file = try temporaryFile("# comment\n@cert-authority *.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n")
        let first = try await Lab.connect("lab2", options: Lab.options(knownHosts: file, policy: .acceptNew))
        await first.close()
        let recorded = try String(contentsOfFile: file, encoding: .utf8)
        #expect(recorded.contains("10.251.0.12 ssh-ed25519 "))
        let second = try await Lab.connect("lab2", options: Lab.options(knownHosts: file, policy: .strict))
        await second.close()
    }

    @Test func changedHostKeyIsRefusedEvenWithAcceptNew() async throws {
        // lab3's address with lab4's key: what a reinstalled or impersonated host looks like.
        let wrong = try knownHostsLine("lab4").replacingOccurrences(of: try Lab.node("lab4").address, with: try Lab.node("lab3").address)
        let file = try temporaryFile(wrong + "\n")
        for policy in [HostKeyPolicy.strict, .acceptNew] {
            let error = await #expect(throws: SSHError.self) { try await Lab.connect("lab3", options: Lab.options(knownHosts: file, policy: policy)) }
            #expect(error?.kind == .hostKeyChanged)
            #expect(error?.message.contains("CHANGED") == true)
        }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == wrong + "\n", "a changed key is never recorded")
    }

    @Test func connectsOverIPv6() async throws {
        let node = try Lab.node("lab7")
        let connection = try await SSHConnection.connect(to: SSHEndpoint(host: node.address6, name: node.name),
                                                         credentials: Lab.credentials(), options: Lab.options())
        #expect(try await connection.run("hostname; echo $SSH_CONNECTION").stdoutText.hasPrefix("lab7\nfd00:251::1 "))
        await connection.close()
    }

    @Test func hashedKnownHostsEntriesMatch() async throws {
        let connection = try await Lab.connect("lab4", options: Lab.options(knownHosts: try Lab.require().known_hosts_hashed))
        await connection.close()
    }

    @Test func aPlainEntryDoesNotVouchForAnotherPort() async throws {
        // OpenSSH looks up [host]:port for ports other than 22; a bare host line must not match them.
        let node = try Lab.node("lab5")
        let file = try temporaryFile(try knownHostsLine("lab5") + "\n")
        let error = await #expect(throws: SSHError.self) {
            try await SSHConnection.connect(to: SSHEndpoint(host: node.address, port: 2222, name: node.name),
                                            credentials: Lab.credentials(), options: Lab.options(knownHosts: file))
        }
        #expect(error?.kind == .refused, "nothing listens on 2222, so the connection is refused before any key check")
    }

    @Test(arguments: ["ed25519", "ecdsa", "ed25519_passphrase"])
    func keyFilesAuthenticate(_ key: String) async throws {
        let connection = try await Lab.connect("lab6", key: key)
        let result = try await connection.run("whoami")
        #expect(result.stdoutText == "root\n")
        await connection.close()
    }

    @Test func anRSAKeyFailsWithAnExplanation() async throws {
        let error = await #expect(throws: SSHError.self) { try await Lab.connect("lab1", key: "rsa") }
        #expect(error?.kind == .authentication)
        #expect(error?.message.contains("libssh2 1.10 signs RSA keys only with SHA-1") == true, "\(String(describing: error))")
        #expect(error?.message.contains("ssh-keygen -t ed25519") == true)
    }

    @Test func theAgentAuthenticates() async throws {
        let state = try Lab.require()
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-agent-\(UUID().uuidString)").path
        // In the foreground (-D): a daemonised agent would keep our output pipe open forever.
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
        agent.arguments = ["-D", "-a", socket]
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        defer { agent.terminate() }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(20)) }
        _ = try Lab.local(["ssh-add", state.client_keys["ecdsa"]!], environment: ["SSH_AUTH_SOCK": socket])
        let node = try Lab.node("lab2")
        let credentials = SSHCredentials(user: "pvuser", identityFiles: [], useAgent: true, passphrase: nil, agentSocket: socket)
        let connection = try await SSHConnection.connect(to: SSHEndpoint(host: node.address, name: node.name),
                                                         credentials: credentials, options: Lab.options())
        #expect(try await connection.run("whoami").stdoutText == "pvuser\n")
        await connection.close()
    }

    @Test func sudoWithoutAPassword() async throws {
        let connection = try await Lab.connect("lab3", user: "pvuser")
        #expect(try await connection.run("id -un").stdoutText == "pvuser\n")
        let result = try await connection.run("id -u; cat", become: true, input: Data("piped".utf8))
        #expect(result.stdoutText == "0\npiped")
        await connection.close()
    }

    @Test func sudoWithAPasswordSentOnStdin() async throws {
        let state = try Lab.require()
        let password = try #require(state.sudo_passwords["pvpass"])
        let connection = try await Lab.connect("lab4", user: "pvpass", options: Lab.options(sudoPassword: password))
        let result = try await connection.run("id -u; cat", become: true, input: Data("after the password".utf8))
        #expect(result.stdoutText == "0\nafter the password")
        await connection.close()

        let missing = try await Lab.connect("lab4", user: "pvpass")
        let error = await #expect(throws: SSHError.self) { try await missing.run("true", become: true) }
        #expect(error?.kind == .become)
        #expect(error?.message.contains("PARVESTER_BECOME_PASSWORD") == true)
        await missing.close()

        let wrong = try await Lab.connect("lab4", user: "pvpass", options: Lab.options(sudoPassword: "not-it"))
        let refused = await #expect(throws: SSHError.self) { try await wrong.run("true", become: true) }
        #expect(refused?.kind == .become)
        await wrong.close()
    }

    @Test func aCommandThroughABastion() async throws {
        let bastion = try await Lab.connect("lab1")
        let node = try Lab.node("lab6")
        let inner = try await SSHConnection.connect(to: SSHEndpoint(host: node.address, name: node.name), credentials: Lab.credentials(user: "pvuser"),
                                                    options: Lab.options(), via: bastion)
        let result = try await inner.run("hostname; head -c 3000000 /dev/zero | wc -c")
        #expect(result.stdoutText == "lab6\n3000000\n")
        await inner.close()
        await bastion.close()
    }

    @Test func aBastionChecksTheInnerHostKeyToo() async throws {
        let bastion = try await Lab.connect("lab1")
        let node = try Lab.node("lab5")
        let empty = try temporaryFile("")
        let error = await #expect(throws: SSHError.self) {
            try await SSHConnection.connect(to: SSHEndpoint(host: node.address, name: node.name), credentials: Lab.credentials(),
                                            options: Lab.options(knownHosts: empty), via: bastion)
        }
        #expect(error?.kind == .hostKeyUnknown)
        await bastion.close()
    }

    @Test func fiftyNodesConnectInParallel() async throws {
        let state = try Lab.require(nodes: 50)
        let nodes = Array(state.nodes.prefix(50))
        let options = try Lab.options(timeout: 20)
        let credentials = try Lab.credentials()
        let names = await ParallelRunner.map(nodes, width: 50) { node -> String in
            do {
                let connection = try await SSHConnection.connect(to: SSHEndpoint(host: node.address, name: node.name),
                                                                 credentials: credentials, options: options)
                let name = try await connection.run("hostname").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                await connection.close()
                return name
            } catch {
                return "error: \(error)"
            }
        }
        #expect(names == nodes.map(\.name))
    }
}
