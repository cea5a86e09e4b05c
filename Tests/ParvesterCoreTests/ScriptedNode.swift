import Foundation
import SSH
@testable import ParvesterCore

/// A node that answers commands from a script instead of over SSH, and records what it was asked:
/// phases' decisions are tested against it without root or a lab.
final class ScriptedNode: NodeTransport, @unchecked Sendable {
    struct Rule {
        var contains: String
        var status: Int32
        var stdout: String
    }

    private let lock = NSLock()
    private var rules: [Rule] = []
    private var ran: [String] = []
    private var written: [String: Data] = [:]
    var files: [String: String] = [:]
    let loginUser = "root"

    /// Commands containing `text` answer with `stdout` and `status`; the first matching rule wins, and
    /// a command no rule matches succeeds with no output.
    func on(_ text: String, status: Int32 = 0, stdout: String = "") { lock.withLock { rules.append(Rule(contains: text, status: status, stdout: stdout)) } }

    var commands: [String] { lock.withLock { ran } }
    var writes: [String: Data] { lock.withLock { written } }

    func execute(_ command: String, become: Bool, timeout: TimeInterval, summary: String?, preamble: String?) async throws -> CommandResult {
        let rule = lock.withLock { () -> Rule? in
            ran.append(command)
            return rules.first { command.contains($0.contains) }
        }
        return CommandResult(exitStatus: rule?.status ?? 0, stdout: Data((rule?.stdout ?? "").utf8),
                             stderr: Data((rule?.status ?? 0) == 0 ? "".utf8 : "scripted failure".utf8))
    }

    func writeFile(_ source: UploadSource, to path: String, mode: Int, become: Bool, createDirectory: Bool, timeout: TimeInterval,
                   progress: TransferProgress?) async throws {
        guard case .data(let data) = source else { return }
        lock.withLock { written[path] = data }
    }

    func readFile(_ path: String, become: Bool, timeout: TimeInterval) async throws -> Data {
        guard let text = lock.withLock({ files[path] }) else { throw SSHError(.sftp, endpoint: "scripted", "no such file \(path)") }
        return Data(text.utf8)
    }
}

/// One scripted node per node name.
final class ScriptedNodes: NodeTransportProvider, @unchecked Sendable {
    private let lock = NSLock()
    private var nodes: [String: ScriptedNode] = [:]

    subscript(name: String) -> ScriptedNode {
        lock.withLock {
            if let node = nodes[name] { return node }
            let node = ScriptedNode()
            nodes[name] = node
            return node
        }
    }

    func transport(for node: Node) async throws -> any NodeTransport { self[node.name] }
    func closeAll() async {}
}

/// Collects a run's step records.
final class RecordingObserver: RunObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [StepRecord] = []
    var steps: [StepRecord] { lock.withLock { records } }
    func recorded(_ record: StepRecord) { lock.withLock { records.append(record) } }
    func outcome(_ phase: String, _ target: String) -> StepOutcome? { steps.last { $0.phase == phase && $0.target == target }?.outcome }
}

enum ScriptedRun {
    static func context(_ example: String = "cluster.yaml", planning: Bool = false, nodes: ScriptedNodes,
                        observer: RecordingObserver) throws -> RunContext {
        let inventory = try InventoryLoader.load(path: FixturePaths.exampleInventories.appendingPathComponent(example).path)
        let state = StateDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("scripted-\(UUID().uuidString)").path)
        return RunContext(inventory: inventory, options: RunOptions(stateDirectory: state, dryRun: planning, commandTimeout: 5),
                          observer: observer, transports: nodes)
    }
}
