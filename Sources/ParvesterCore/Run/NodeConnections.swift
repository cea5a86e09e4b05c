import Foundation

/// The connect steps of a run, started together and awaited one node at a time: `gather-facts` probes
/// each node as soon as its own session is up instead of waiting for the slowest handshake, and the
/// run lock is taken as soon as the initial server is connected.
final class NodeConnections: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [String: Bool] = [:]
    private var connecting: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Bool, Never>]] = [:]
    private var all: Task<Void, Never>?

    /// Starts the `connect` step of each node (at most the inventory's concurrency at once).
    func start(_ context: RunContext, nodes: [Node], phase: String) {
        lock.withLock { connecting = Set(nodes.map(\.name)) }
        all = Task {
            await context.forEach(nodes) { node in
                let ok = await context.step(phase, node) {
                    let transport = try await context.transport(for: node)
                    return .ok("as \(transport.loginUser)")
                }
                self.finish(node.name, ok.succeeded)
            }
        }
    }

    /// Whether the node connected, once its connect step has ended.
    func connected(_ node: Node) async -> Bool {
        await withCheckedContinuation { continuation in
            let done: Bool? = lock.withLock {
                if let outcome = outcomes[node.name] { return outcome }
                // An action that connects to some nodes only (the servers, for snapshots) never reaches the others.
                if !connecting.contains(node.name) { return false }
                waiters[node.name, default: []].append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Every connect step, ended (the run is over, or later phases need the final set of failed nodes).
    func finished() async { await all?.value }

    private func finish(_ name: String, _ ok: Bool) {
        let waiting = lock.withLock {
            outcomes[name] = ok
            return waiters.removeValue(forKey: name) ?? []
        }
        for continuation in waiting { continuation.resume(returning: ok) }
    }
}
