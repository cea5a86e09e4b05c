/// VM networks use the `bridge` CNI plugin: Multus hands the attachment to it, so it must be in
/// /opt/cni/bin on every node, or VMs on those networks fail to start there. Checked before the
/// networks are created, so the failure names the node rather than showing up later in a VM.
struct CNIPluginsPhase: Phase {
    let id = "cni-plugins"
    let title = "Check the bridge CNI plugin on every node"
    static let path = "/opt/cni/bin/bridge"

    func run(_ context: RunContext) async throws {
        guard !context.inventory.networks.isEmpty else { return }
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                let found = try await context.run(node, "test -x \(Self.path)", allowFailure: true)
                guard found.succeeded else {
                    throw HostRefused("\(Self.path) is missing on \(node.name): VMs on the inventory's networks cannot start there. Install the standard CNI plugins (Debian: containernetworking-plugins, then link bridge into /opt/cni/bin), and run up again")
                }
                return .ok(nil)
            }
        }
    }
}
