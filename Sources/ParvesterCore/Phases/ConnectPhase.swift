/// Opens one SSH session per node, all in parallel, so that every unreachable node is reported at once.
/// Only the initial server's session is waited for here (the run lock is taken on it next); the others
/// go on connecting, and `gather-facts` probes each node as soon as its own session is up.
struct ConnectPhase: Phase {
    let id = "connect"
    let title = "Connect over SSH"

    func run(_ context: RunContext) async throws {
        context.connections.start(context, phase: id)
        let initial = context.inventory.initialServer
        if await !context.connections.connected(initial) {
            throw RunAbort("the initial server \(initial.name) is unreachable, and the cluster cannot be built without it")
        }
    }
}
