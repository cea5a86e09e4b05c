import Foundation
import Kube
import SSH

/// Settings of one `up` run that do not come from the inventory.
public struct RunOptions: Sendable {
    /// How long to wait for a service to become active, or nodes to become Ready.
    public var waitTimeout: TimeInterval
    public var stateDirectory: StateDirectory
    public var hostKeyPolicy: HostKeyPolicy
    /// Gather facts and report what would change, without changing anything (`plan`).
    public var dryRun: Bool
    /// The longest any one remote command or small file write may take (install scripts and artifact
    /// uploads excepted): a node whose link died fails after this, naming the node and phase.
    public var commandTimeout: TimeInterval
    /// Where release manifests are cached, and whether to use only the cache.
    public var manifests: ManifestCache
    public var offline: Bool

    public init(waitTimeout: TimeInterval = 900, stateDirectory: StateDirectory, hostKeyPolicy: HostKeyPolicy = .strict, dryRun: Bool = false,
                commandTimeout: TimeInterval = 120, manifests: ManifestCache = .default(), offline: Bool = false) {
        self.commandTimeout = commandTimeout
        self.manifests = manifests
        self.offline = offline
        self.waitTimeout = waitTimeout
        self.stateDirectory = stateDirectory
        self.hostKeyPolicy = hostKeyPolicy
        self.dryRun = dryRun
    }
}

/// What the phases of one run share: the inventory, the sessions, what was learnt about each node,
/// which nodes failed, and the cluster's credentials once known. Phases run one after another; within
/// a phase, nodes run in parallel, hence the lock.
public final class RunContext: @unchecked Sendable {
    public let inventory: Inventory
    public let options: RunOptions
    public let report: RunReport
    let pool: ConnectionPool
    private let lock = NSLock()
    private var factsByNode: [String: NodeFacts] = [:]
    private var failures: [String: String] = [:]
    private var configChangedNodes: Set<String> = []
    private var secrets: [String] = []
    private var clusterToken: Secret?
    private var clusterKubeconfig: Kubeconfig?
    private var client: KubeHTTPClient?
    private var apiDiscovery: KubeDiscovery?
    var runLock: RunLock?
    /// sha256 of the rke2.yaml downloaded in this run (see `KubeconfigSource`).
    var kubeconfigSourceHash: String? {
        get { lock.withLock { sourceHash } }
        set { lock.withLock { sourceHash = newValue } }
    }
    private var sourceHash: String?
    let connections = NodeConnections()

    public init(inventory: Inventory, options: RunOptions, observer: RunObserver?) {
        self.inventory = inventory
        self.options = options
        report = RunReport(observer: observer)
        pool = ConnectionPool(settings: ConnectionSettings(hostKeyPolicy: options.hostKeyPolicy))
    }

    // MARK: - Shared state

    func facts(_ node: Node) -> NodeFacts? { lock.withLock { factsByNode[node.name] } }
    func setFacts(_ facts: NodeFacts, for node: Node) { lock.withLock { factsByNode[node.name] = facts } }

    func markConfigChanged(_ node: Node) { lock.withLock { _ = configChangedNodes.insert(node.name) } }
    func configChanged(_ node: Node) -> Bool { lock.withLock { configChangedNodes.contains(node.name) } }

    /// A secret learnt from a node (its node-token), masked from every output from now on.
    func addSecret(_ secret: String) { lock.withLock { secrets.append(secret) } }

    var token: Secret? { lock.withLock { clusterToken } }
    func setToken(_ token: Secret) {
        lock.withLock {
            clusterToken = token
            secrets.append(token.revealed)
        }
    }

    var kubeconfig: Kubeconfig? { lock.withLock { clusterKubeconfig } }
    var kube: KubeHTTPClient? { lock.withLock { client } }
    var discovery: KubeDiscovery? { lock.withLock { apiDiscovery } }
    func setKubeconfig(_ kubeconfig: Kubeconfig) throws {
        let credentials = try kubeconfig.credentials()
        let newClient = try KubeHTTPClient(credentials: credentials)
        lock.withLock {
            clusterKubeconfig = kubeconfig
            client = newClient
            apiDiscovery = KubeDiscovery(client: newClient)
            if let key = credentials.clientKey { secrets.append(String(decoding: key, as: UTF8.self)) }
        }
    }

    /// Removes every secret this run knows from a text meant for output.
    func masked(_ text: String) -> String {
        URLCredentials.redacted(in: lock.withLock { secrets }.filter { !$0.isEmpty }.reduce(text) { $0.replacingOccurrences(of: $1, with: "********") })
    }

    // MARK: - Failures

    public var failedNodes: [String: String] { lock.withLock { failures } }
    func hasFailed(_ node: Node) -> Bool { lock.withLock { failures[node.name] != nil } }
    func markFailed(_ node: Node, _ why: String) { lock.withLock { failures[node.name] = failures[node.name] ?? why } }
    /// The nodes still in the run, in inventory order.
    func healthy(_ nodes: [Node]) -> [Node] { nodes.filter { !hasFailed($0) } }

    // MARK: - Steps

    public enum Done: Sendable {
        case changed(String?)
        case unchanged
        case ok(String?)
    }

    /// Runs one phase's work for one target, timing it and recording the outcome. A thrown error fails
    /// the node (it drops out of later phases); the error's text is recorded, masked.
    @discardableResult
    func step(_ phase: String, _ node: Node, _ work: () async throws -> Done) async -> Bool {
        let started = Date()
        do {
            let report = report
            let done = try await StepActivity.reporting({ report.stillWorking(target: node.name, $0) }, work)
            let seconds = Date().timeIntervalSince(started)
            record(phase, node.name, done, seconds)
            return true
        } catch {
            let message = masked(Self.describe(error))
            markFailed(node, "\(phase): \(message)")
            report.record(StepRecord(phase: phase, target: node.name, outcome: .failed, seconds: Date().timeIntervalSince(started), detail: message))
            return false
        }
    }

    private func record(_ phase: String, _ target: String, _ done: Done, _ seconds: Double) {
        let (outcome, detail): (StepOutcome, String?) = switch done {
        case .changed(let detail): (.changed, detail)
        case .unchanged: (.unchanged, nil)
        case .ok(let detail): (.ok, detail)
        }
        report.record(StepRecord(phase: phase, target: target, outcome: outcome, seconds: seconds, detail: detail.map(masked)))
    }

    func skip(_ phase: String, _ node: Node, _ why: String) {
        report.record(StepRecord(phase: phase, target: node.name, outcome: .skipped, seconds: 0, detail: why))
    }

    func clusterStep(_ phase: String, _ work: () async throws -> Done) async throws {
        let started = Date()
        do {
            let done = try await work()
            let seconds = Date().timeIntervalSince(started)
            record(phase, "cluster", done, seconds)
        } catch {
            let message = masked(Self.describe(error))
            report.record(StepRecord(phase: phase, target: "cluster", outcome: .failed, seconds: Date().timeIntervalSince(started), detail: message))
            throw RunAbort(message)
        }
    }

    /// Which timeout ran out and how to change it (see docs/troubleshooting.md).
    static func hint(for error: SSHError) -> String {
        if error.message.hasPrefix("skipped:") { return "" }
        if error.message.hasPrefix("command did not finish") {
            return ". Check that the node still answers; if the command is only slow, raise --command-timeout"
        }
        if error.message.hasPrefix("the node stopped answering") {
            return ". A session opens within 3 × ssh.connectTimeout: check the node's network link and sshd, or raise ssh.connectTimeout for a slow link"
        }
        return ""
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as SSHError: return error.message + hint(for: error)
        case let error as KubeError: return error.message
        default: return "\(error)"
        }
    }

    /// Runs work for nodes in parallel, at most the inventory's concurrency at once.
    func forEach(_ nodes: [Node], width: Int? = nil, _ work: @escaping @Sendable (Node) async -> Void) async {
        _ = await ParallelRunner.map(nodes, width: max(1, min(width ?? inventory.concurrency, max(nodes.count, 1)))) { await work($0) }
    }

    // MARK: - Remote work

    func connection(for node: Node) async throws -> SSHConnection { try await pool.connection(for: node) }

    /// What `-v` prints for a command: the command itself (a script by its first line and length), and
    /// what it is for. Commands never hold secrets (they travel in files or stdin), and are masked anyway.
    static func verboseLine(_ command: String, summary: String?) -> String {
        let lines = command.split(separator: "\n", omittingEmptySubsequences: false)
        var text = "$ " + (lines.first.map(String.init) ?? "")
        if lines.count > 1 { text += " … (\(lines.count) lines)" }
        if let summary, summary != command { text += "   # \(summary)" }
        return text
    }

    /// Runs a command on a node with the node's privileges, failing with its stderr when it fails.
    @discardableResult
    func run(_ node: Node, _ command: String, summary: String? = nil, timeout: TimeInterval? = nil, allowFailure: Bool = false,
             preamble: String? = nil) async throws -> CommandResult {
        let connection = try await connection(for: node)
        report.command(target: node.name, masked(Self.verboseLine(command, summary: summary)))
        StepActivity.doing("running `\(masked(summary ?? command))`", limit: timeout ?? options.commandTimeout)
        let result = try await connection.run(command, become: node.ssh.become, timeout: timeout ?? options.commandTimeout, summary: summary,
                                              preamble: preamble)
        if !allowFailure && !result.succeeded {
            let stderr = result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
            throw RemoteCommandFailed(summary: summary ?? command, status: result.exitStatus, stderr: masked(stderr))
        }
        return result
    }

    /// Writes a file on a node atomically (temporary name, then rename), creating its directory.
    func write(_ file: RenderedFile, to node: Node) async throws {
        let connection = try await connection(for: node)
        report.command(target: node.name, "write \(file.path) (mode \(String(file.mode, radix: 8)))")
        try await connection.upload(.data(Data(file.content.utf8)), to: file.path, mode: file.mode, become: node.ssh.become, createDirectory: true,
                                    timeout: options.commandTimeout)
    }

    func close() async {
        await connections.finished()
        await pool.closeAll()
    }
}

struct RemoteCommandFailed: Error, CustomStringConvertible {
    var summary: String
    var status: Int32
    var stderr: String
    var description: String {
        "`\(summary)` exited with \(status)" + (stderr.isEmpty ? "" : ": \(stderr.split(separator: "\n").suffix(5).joined(separator: " | "))")
    }
}
