/// `upgrade` works on a cluster that exists: nodes not in it yet are added by `up`.
struct RequireClusterPhase: ReadOnlyPhase {
    let id = "require-cluster"
    let title = "Check that the cluster exists"
    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }

    func run(_ context: RunContext) async throws {
        let initial = context.inventory.initialServer
        guard context.facts(initial)?.isActive("rke2-server") == true else {
            throw RunAbort("RKE2 does not run on the initial server \(initial.name): there is no cluster to upgrade yet. `parvester up` builds it")
        }
        await context.step(id, initial) { .ok("rke2-server runs") }
    }
}
