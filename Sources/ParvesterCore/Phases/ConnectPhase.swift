/// Opens one SSH session per node, all in parallel, so that every unreachable node is reported at once.
/// Only the initial server's session is waited for here (the run lock is taken on it next); the others
/// go on connecting, and `gather-facts` probes each node as soon as its own session is up.
struct ConnectPhase: ReadOnlyPhase {
    let id = "connect"
    let title = "Connect over SSH"
    /// The nodes of the run: the inventory's for `up`; those to remove and the initial server for `remove`.
    var nodes: @Sendable (RunContext) -> [Node] = { $0.inventory.nodes }

    func targets(_ context: RunContext) -> [String] { nodes(context).map(\.name) }
    func note(_ context: RunContext) -> String? { "up to \(context.inventory.concurrency) nodes at once" }

    func run(_ context: RunContext) async throws {
        context.connections.start(context, nodes: nodes(context), phase: id)
        let initial = context.inventory.initialServer
        if await !context.connections.connected(initial) {
            throw RunAbort("the initial server \(initial.name) is unreachable, and the cluster cannot be built without it")
        }
    }
}
