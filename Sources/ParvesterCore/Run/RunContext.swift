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

/// What the phases of one run share: the inventory, the nodes' transports, each node's state and the
/// cluster's. Phases run one after another; within a phase, nodes run in parallel, hence the lock.
public final class RunContext: @unchecked Sendable {
    public let inventory: Inventory
    public let options: RunOptions
    public let report: RunReport
    let transports: any NodeTransportProvider
    private let lock = NSLock()
    private var nodeStates: [String: NodeState] = [:]
    private var clusterState = ClusterState()
    private var secrets: [String] = []
    var runLock: RunLock?
    let connections = NodeConnections()

    public init(inventory: Inventory, options: RunOptions, observer: RunObserver?, transports: (any NodeTransportProvider)? = nil) {
        self.inventory = inventory
        self.options = options
        report = RunReport(observer: observer)
        self.transports = transports ?? ConnectionPool(settings: ConnectionSettings(hostKeyPolicy: options.hostKeyPolicy))
    }

    /// A plan: phases describe instead of running, and nothing is written, started or locked.
    public var planning: Bool { options.dryRun }

    // MARK: - Shared state

    public func state(of node: Node) -> NodeState { lock.withLock { nodeStates[node.name] ?? NodeState() } }
    func update(_ node: Node, _ change: (inout NodeState) -> Void) { lock.withLock { change(&nodeStates[node.name, default: NodeState()]) } }
    public var cluster: ClusterState { lock.withLock { clusterState } }
    func updateCluster(_ change: (inout ClusterState) -> Void) { lock.withLock { change(&clusterState) } }

    func facts(_ node: Node) -> NodeFacts? { state(of: node).facts }
    func setFacts(_ facts: NodeFacts, for node: Node) { update(node) { $0.facts = facts } }
    func markConfigChanged(_ node: Node) { update(node) { $0.configChanged = true } }
    func configChanged(_ node: Node) -> Bool { state(of: node).configChanged }

    /// A secret learnt from a node (its node-token), masked from every output from now on.
    func addSecret(_ secret: String) { lock.withLock { secrets.append(secret) } }

    var token: Secret? { cluster.token }
    func setToken(_ token: Secret) {
        lock.withLock {
            clusterState.token = token
            secrets.append(token.revealed)
        }
    }

    var kubeconfig: Kubeconfig? { cluster.kubeconfig }
    var kube: KubeHTTPClient? { cluster.kube }
    var discovery: KubeDiscovery? { cluster.discovery }
    var kubeconfigSourceHash: String? {
        get { cluster.kubeconfigSourceHash }
        set { lock.withLock { clusterState.kubeconfigSourceHash = newValue } }
    }
    func setKubeconfig(_ kubeconfig: Kubeconfig) throws {
        let credentials = try kubeconfig.credentials()
        let newClient = try KubeHTTPClient(credentials: credentials)
        lock.withLock {
            clusterState.kubeconfig = kubeconfig
            clusterState.kube = newClient
            clusterState.discovery = KubeDiscovery(client: newClient)
            if let key = credentials.clientKey { secrets.append(String(decoding: key, as: UTF8.self)) }
        }
    }

    /// Removes every secret this run knows from a text meant for output.
    func masked(_ text: String) -> String {
        URLCredentials.redacted(in: lock.withLock { secrets }.filter { !$0.isEmpty }.reduce(text) { $0.replacingOccurrences(of: $1, with: "********") })
    }

    // MARK: - Failures

    public var failedNodes: [String: String] {
        lock.withLock { nodeStates.compactMapValues(\.failure) }
    }
    func hasFailed(_ node: Node) -> Bool { state(of: node).failure != nil }
    func markFailed(_ node: Node, _ why: String) { update(node) { $0.failure = $0.failure ?? why } }
    /// The nodes still in the run, in inventory order.
    func healthy(_ nodes: [Node]) -> [Node] { nodes.filter { !hasFailed($0) } }

    // MARK: - Steps

    public enum Done: Sendable {
        case changed(String?)
        case unchanged
        case ok(String?)
        /// Cannot be decided before `up` has done an earlier step (a plan, on a node RKE2 is not on yet).
        case deferred(String)
    }

    /// Runs one phase's work for one target, timing it and recording the outcome. A thrown error fails
    /// the node (it drops out of later phases) and its text is recorded, masked; a thrown `RunAbort`
    /// also comes back as `.aborted`, for the phase to stop the run with.
    @discardableResult
    func step(_ phase: String, _ node: Node, _ work: () async throws -> Done) async -> StepResult {
        let started = Date()
        do {
            let report = report
            let done = try await StepActivity.reporting({ report.stillWorking(target: node.name, $0) }, work)
            let seconds = Date().timeIntervalSince(started)
            record(phase, node.name, done, seconds)
            return .done
        } catch {
            let message = masked(Self.describe(error))
            markFailed(node, "\(phase): \(message)")
            report.record(StepRecord(phase: phase, target: node.name, outcome: .failed, seconds: Date().timeIntervalSince(started), detail: message))
            if let abort = error as? RunAbort { return .aborted(abort) }
            return .nodeFailed(message)
        }
    }

    private func record(_ phase: String, _ target: String, _ done: Done, _ seconds: Double) {
        let (outcome, detail): (StepOutcome, String?) = switch done {
        case .changed(let detail): (.changed, detail)
        case .unchanged: (.unchanged, nil)
        case .ok(let detail): (.ok, detail)
        case .deferred(let detail): (.deferred, detail)
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
    /// A step skipped because the node stopped answering earlier (the run lock's refresh may have been
    /// first to find out) names the timeout of that first failure.
    static func hint(for error: SSHError) -> String {
        let cause = error.message.hasPrefix("skipped:") ? (error.message.firstRange(of: "(").map { String(error.message[$0.upperBound...]) } ?? "") : error.message
        if cause.hasPrefix("command did not finish") {
            return ". Check that the node still answers; if the command is only slow, raise --command-timeout"
        }
        if cause.hasPrefix("the node stopped answering") {
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

    func transport(for node: Node) async throws -> any NodeTransport { try await transports.transport(for: node) }
    func reconnect(_ node: Node) async throws { _ = try await transports.reconnect(node) }

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
        let transport = try await transport(for: node)
        report.command(target: node.name, masked(Self.verboseLine(command, summary: summary)))
        StepActivity.doing("running `\(masked(summary ?? command))`", limit: timeout ?? options.commandTimeout)
        let result = try await transport.execute(command, become: node.ssh.become, timeout: timeout ?? options.commandTimeout, summary: summary,
                                                 preamble: preamble)
        if !allowFailure && !result.succeeded {
            let stderr = result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
            throw RemoteCommandFailed(summary: summary ?? command, status: result.exitStatus, stderr: masked(stderr))
        }
        return result
    }

    /// Writes a file on a node atomically (temporary name, then rename), creating its directory.
    func write(_ file: RenderedFile, to node: Node) async throws {
        let transport = try await transport(for: node)
        report.command(target: node.name, "write \(file.path) (mode \(String(file.mode, radix: 8)))")
        try await transport.writeFile(.data(Data(file.content.utf8)), to: file.path, mode: file.mode, become: node.ssh.become,
                                      createDirectory: true, timeout: options.commandTimeout, progress: nil)
    }

    /// Reads a file on a node.
    func read(_ path: String, from node: Node, timeout: TimeInterval? = nil) async throws -> Data {
        let transport = try await transport(for: node)
        report.command(target: node.name, "read \(path)")
        return try await transport.readFile(path, become: node.ssh.become, timeout: timeout ?? options.commandTimeout)
    }

    func close() async {
        await connections.finished()
        await transports.closeAll()
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
