import Kube

/// The inventory's VM networks as Multus NetworkAttachmentDefinitions (bridge CNI on the node bridge).
struct NetworksPhase: RenderedObjectsPhase {
    let id = "networks"
    let title = "VM networks (NetworkAttachmentDefinitions)"
    func targets(_ context: RunContext) -> [String] { context.inventory.networks.map { "\($0.namespace)/\($0.name)" } }

    func objects(_ context: RunContext) throws -> [KubeObject] {
        let renderer = ClusterObjectRenderer(inventory: context.inventory)
        return try context.inventory.networks.map { network -> KubeObject in
            context.owned(try KubeObject.from(try renderer.networkAttachmentDefinition(network), source: "network \(network.namespace)/\(network.name)")[0])
        }
    }

    func run(_ context: RunContext) async throws {
        try await context.clusterStep(id) {
            let changed = try await context.applyRendered(try objects(context))
            return changed.isEmpty ? .unchanged : .changed(changed.joined(separator: ", "))
        }
    }
}
