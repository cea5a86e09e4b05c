/// Opens one SSH session per node, all in parallel, so that every unreachable node is reported at once.
struct ConnectPhase: Phase {
    let id = "connect"
    let title = "Connect over SSH"

    func run(_ context: RunContext) async throws {
        await context.forEach(context.inventory.nodes) { node in
            await context.step(id, node) {
                let connection = try await context.connection(for: node)
                return .ok("as \(connection.user)")
            }
        }
        let initial = context.inventory.initialServer
        if context.hasFailed(initial) {
            throw RunAbort("the initial server \(initial.name) is unreachable, and the cluster cannot be built without it")
        }
    }
}
