/// VM networks use the `bridge` CNI plugin: Multus hands the attachment to it, so it must be in
/// /opt/cni/bin on every node, or VMs on those networks fail to start there. Checked before the
/// networks are created, so the failure names the node rather than showing up later in a VM.
struct CNIPluginsPhase: Phase {
    let id = "cni-plugins"
    let title = "Check the bridge CNI plugin on every node"
    static let path = "/opt/cni/bin/bridge"

    func targets(_ context: RunContext) -> [String] { context.inventory.networks.isEmpty ? [] : context.inventory.nodes.map(\.name) }

    /// RKE2 puts the standard plugins in place when its service first runs: on a node where it does not
    /// run yet, only `up` can tell, after the install.
    func describe(_ context: RunContext) async throws {
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                let unit = node.role == .server ? "rke2-server" : "rke2-agent"
                let facts = context.facts(node)
                if facts?.rke2Version != context.inventory.cluster.version || facts?.isActive(unit) != true {
                    return .deferred("will be checked after install: RKE2 brings the CNI plugins")
                }
                return try await check(context, node)
            }
        }
    }

    func run(_ context: RunContext) async throws {
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) { try await check(context, node) }
        }
    }

    private func check(_ context: RunContext, _ node: Node) async throws -> RunContext.Done {
        let found = try await context.run(node, "test -x \(Self.path)", allowFailure: true)
        guard found.succeeded else {
            throw HostRefused("\(Self.path) is missing on \(node.name): VMs on the inventory's networks cannot start there. Install the standard CNI plugins (Debian: containernetworking-plugins, then link bridge into /opt/cni/bin), and run up again")
        }
        return .ok(nil)
    }
}
