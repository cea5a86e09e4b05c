import Foundation
import SSH
import TestSupport
import Testing

/// The lab that Tests/Lab/lab.py brought up, as its lab.json describes it.
struct LabState: Decodable, Sendable {
    struct Node: Decodable, Sendable {
        var name: String
        var address: String
        var address6: String
        var index: Int
    }

    var dir: String
    var nodes: [Node]
    var client_keys: [String: String]
    var key_passphrase: String
    var known_hosts: String
    var known_hosts_hashed: String
    var sudo_passwords: [String: String]
    /// RKE2's airgap artifacts with the lab's RKE2 double (readable from the nodes as well).
    var artifacts: String
    /// The same for every version the lab builds (the first is `artifacts`'), for upgrades.
    var artifacts_by_version: [String: String]
    /// The manifest and image server: plain HTTP, HTTPS (certificate from manifests_ca), its access log.
    var manifests_url: String
    var manifests_https_url: String
    var manifests_ca: String
    var manifests_access_log: String
    /// CDI's upload proxy (the API double's, on the host) and its signer CA.
    var upload_proxy_url: String
    var upload_proxy_ca: String
    /// The API double's socket, which every node's RKE2 double forwards to.
    var kube_socket: String
}

enum Lab {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = ProcessInfo.processInfo.environment["PARVESTER_LAB_DIR"] ?? repositoryRoot.appendingPathComponent(".lab").path
    static let skipped = ProcessInfo.processInfo.environment["PARVESTER_SKIP_LAB"] == "1"
    static let skipReason: Comment = "PARVESTER_SKIP_LAB=1: lab tests NOT run (they need root, `ip` and `make lab-up`)"

    static let state: LabState? = {
        guard let data = FileManager.default.contents(atPath: directory + "/lab.json") else { return nil }
        return try? JSONDecoder().decode(LabState.self, from: data)
    }()

    /// The lab, or a failure that says how to get one: a missing lab never passes silently.
    static func require(nodes count: Int = 1) throws -> LabState {
        guard let state else {
            throw LabUnavailable("no lab at \(directory): run the tests with `make test` (it brings the lab up), or `make lab-up N=80`; set PARVESTER_SKIP_LAB=1 to skip lab tests knowingly")
        }
        guard state.nodes.count >= count else {
            throw LabUnavailable("this test needs \(count) lab nodes, the lab has \(state.nodes.count): `make lab-up N=80`")
        }
        return state
    }

    static func node(_ name: String) throws -> LabState.Node {
        let state = try require()
        guard let node = state.nodes.first(where: { $0.name == name }) else {
            throw LabUnavailable("the lab has no node \(name): `make lab-up N=80`")
        }
        return node
    }

    static func options(knownHosts: String? = nil, policy: HostKeyPolicy = .strict, timeout: TimeInterval = 5,
                        sudoPassword: String? = nil) throws -> SSHOptions {
        SSHOptions(connectTimeout: timeout, knownHostsPath: try knownHosts ?? require().known_hosts, hostKeyPolicy: policy,
                   keepaliveInterval: 5, sudoPassword: sudoPassword)
    }

    static func credentials(user: String = "root", key: String = "ed25519") throws -> SSHCredentials {
        let state = try require()
        return SSHCredentials(user: user, identityFiles: [state.client_keys[key]!], useAgent: false,
                              passphrase: state.key_passphrase, agentSocket: nil)
    }

    static func connect(_ name: String, user: String = "root", key: String = "ed25519", options: SSHOptions? = nil) async throws -> SSHConnection {
        let node = try node(name)
        return try await SSHConnection.connect(to: SSHEndpoint(host: node.address, name: node.name),
                                               credentials: credentials(user: user, key: key), options: options ?? Lab.options())
    }

    /// Runs `work` on a root session to the node, closed before returning: a close left to a detached
    /// task can still be running when the test process exits, and crash it in OpenSSL's exit handlers.
    static func withConnection<T>(_ name: String, _ work: (SSHConnection) async throws -> T) async throws -> T {
        let connection = try await connect(name)
        do {
            let result = try await work(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Runs `lab.py ARGUMENTS` against this lab (test infrastructure, not the product: it may run
    /// processes) and returns its stdout; a failure says which command and why.
    @discardableResult
    static func script(_ arguments: [String]) throws -> String {
        let script = repositoryRoot.appendingPathComponent("Tests/Lab/lab.py").path
        let result = try LocalProcess.run("python3", [script] + arguments, environment: ["PARVESTER_LAB_DIR": directory])
        guard result.status == 0 else { throw LabUnavailable("lab \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        return result.stdout
    }

    /// Flips a fault switch of the lab.
    static func fault(_ node: String, _ action: String, _ argument: String? = nil) throws {
        try script(["fault", node, action] + (argument.map { [$0] } ?? []))
    }

    /// Runs a command as root on a node; a failure says what the command printed.
    @discardableResult
    static func shell(_ node: String, _ command: String) async throws -> String {
        let result = try await withConnection(node) { try await $0.run(command, timeout: 60) }
        guard result.succeeded else { throw LabUnavailable("on \(node): \(command) failed (\(result.exitStatus)): \(result.stderrText)") }
        return result.stdoutText
    }

    /// A simulated reboot of a node's network (`lab.py boot`); with `reset`, its network configuration goes first.
    static func boot(_ node: String, reset: Bool = false) throws {
        try script(["boot", node] + (reset ? ["reset"] : []))
    }

    /// Waits, up to `limit`, for a condition the lab or a node brings about; a condition that throws counts as not yet.
    static func waitFor(_ what: String, limit: TimeInterval, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(limit)
        while !((try? await condition()) ?? false) {
            guard Date() < deadline else { throw LabUnavailable("gave up after \(Int(limit))s waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A node with the RKE2 double installed through the airgap path, and nothing left from earlier runs.
    static func freshRKE2(_ name: String) async throws -> SSHConnection {
        let artifacts = try require().artifacts
        let connection = try await connect(name)
        _ = try await connection.run("test -x /usr/local/bin/rke2-uninstall.sh && /usr/local/bin/rke2-uninstall.sh; true", timeout: 180)
        let install = try await connection.run(
            "INSTALL_RKE2_ARTIFACT_PATH=\(ShellQuote.quote(artifacts)) INSTALL_RKE2_VERSION=v1.28.11+rke2r1 sh \(ShellQuote.quote(artifacts))/install.sh")
        try #require(install.succeeded, "\(install.stderrText)")
        return connection
    }

    static func write(_ connection: SSHConnection, _ text: String, to path: String) async throws {
        try await connection.upload(.data(Data(text.utf8)), to: path, mode: 0o600, createDirectory: true)
    }

    /// Flips a fault switch of the API double serving `node`'s cluster.
    static func kubeFault(_ node: String, _ arguments: [String]) throws {
        try script(["kube-fault", node] + arguments)
    }

    /// One start, ready or stop of an RKE2 double, as the API double recorded it.
    struct LifecycleEvent: Decodable, Sendable {
        var node: String
        var event: String
        var version: String
        var role: String
        var time: Double
    }

    /// The RKE2 doubles' records of these nodes since `since` (a Unix time), oldest first.
    static func lifecycle(_ nodes: [String], since: Double) throws -> [LifecycleEvent] {
        try script(["lifecycle", String(since)] + nodes).split(separator: "\n").map { try JSONDecoder().decode(LifecycleEvent.self, from: Data($0.utf8)) }
    }

    /// Runs a local tool and returns its stdout (sha256sum, ssh-add, ...).
    static func local(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        try LocalProcess.run(arguments[0], Array(arguments.dropFirst()), environment: environment).stdout
    }
}

struct LabUnavailable: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
