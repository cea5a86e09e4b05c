import Foundation

/// Opens a session to each node to remove. One that does not answer stops the removal before anything
/// changed, unless --unreachable says to take it out of the cluster anyway.
struct ReachRemovedNodesPhase: ReadOnlyPhase {
    let id = "connect-removed"
    let title = "Connect to the nodes to remove"
    let settings: RemovalSettings

    func targets(_ context: RunContext) -> [String] { context.removals.map(\.name) }

    func run(_ context: RunContext) async throws {
        // Every node, also one whose connect step failed already: it is asked again, and stops the run.
        let nodes = context.removals.map { $0.node(in: context.inventory) }
        let unanswered = Unanswered()
        await context.forEach(nodes) { node in
            let result = await context.step(id, node) {
                do {
                    let transport = try await context.transport(for: node)
                    return .ok("as \(transport.loginUser) at \(node.address)")
                } catch where settings.unreachable {
                    context.updateCluster { $0.leftDirty.append(node.name) }
                    return .ok("does not answer (\(RunContext.describe(error))): removed from the cluster only (--unreachable)")
                }
            }
            if !result.succeeded { unanswered.add(node.name) }
        }
        let failed = unanswered.names
        if !failed.isEmpty {
            throw RunAbort("\(failed.joined(separator: ", ")) \(failed.count == 1 ? "does" : "do") not answer over SSH; nothing was changed. "
                           + "Bring \(failed.count == 1 ? "it" : "them") back, or pass --unreachable to remove \(failed.count == 1 ? "it" : "them") from the cluster anyway (left dirty)")
        }
    }
}

/// Names collected from parallel steps.
final class Unanswered: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    func add(_ name: String) { lock.withLock { collected.append(name) } }
    var names: [String] { lock.withLock { collected.sorted() } }
}
