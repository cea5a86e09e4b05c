import Kube

/// A phase that applies objects rendered from the inventory (networks, images, VMs): its plan is a
/// server dry run of the same objects against the live ones. A VM stopped by hand that the inventory
/// wants running shows there, since the dry run would set its run strategy back.
protocol RenderedObjectsPhase: Phase {
    /// The objects, labelled as this cluster's.
    func objects(_ context: RunContext) throws -> [KubeObject]
}

extension RenderedObjectsPhase {
    func describe(_ context: RunContext) async throws {
        try await context.clusterStep(id) { RunContext.planned(try await context.planRendered(try objects(context))) }
    }
}

extension RunContext {
    /// The API client of the cluster phases; a run whose cluster did not come up stops here.
    func clusterClient() throws -> (kube: KubeHTTPClient, discovery: KubeDiscovery) {
        guard let kube, let discovery else { throw RunAbort("no API client: the cluster did not come up") }
        return (kube, discovery)
    }

    /// Server-side apply of objects Parvester rendered from the inventory (networks, images, VMs):
    /// the first object the server refuses stops the phase with its message; otherwise the changed
    /// ones, as `Kind ns/name created|configured`.
    func applyRendered(_ objects: [KubeObject]) async throws -> [String] {
        let (kube, discovery) = try clusterClient()
        let results = await KubeApplier(client: kube, discovery: discovery).apply(objects)
        if let failed = results.first(where: { $0.outcome == .failed }) {
            throw ManifestError("\(failed.object): \(failed.error ?? "failed")")
        }
        return results.filter { $0.outcome != .unchanged }.map { "\($0.object) \($0.outcome.rawValue)" }
    }

    /// What applying the objects would change, from a server-side dry run (`dryRun=All`) compared with
    /// the live objects: `would create Kind ns/name`, or `would change Kind ns/name` with a line per
    /// field. Empty when nothing would change. Without a running cluster, every object is new.
    func planRendered(_ objects: [KubeObject]) async throws -> [String] {
        guard let kube, let discovery else { return objects.map { "would create \($0.description)" } }
        var applier = KubeApplier(client: kube, discovery: discovery)
        applier.dryRun = true
        // A dry run stores nothing: the objects of a CRD created by the same apply cannot be checked yet.
        let newKinds = Set(objects.filter { $0.kind == "CustomResourceDefinition" }.compactMap { $0.node["spec"]?["names"]?["kind"]?.scalar?.value })
        var lines: [String] = []
        for result in await applier.apply(objects) {
            switch result.outcome {
            case .unchanged: continue
            case .failed where newKinds.contains { result.object.hasPrefix($0 + " ") }: lines.append("would create \(result.object)")
            case .created: lines.append("would create \(result.object)")
            case .configured: lines.append((["would change \(result.object)"] + result.changes.map { "  " + $0 }).joined(separator: "\n"))
            case .failed: lines.append("would fail: \(result.object): \(result.error ?? "refused by the server's dry run")")
            }
        }
        return lines
    }

    /// An object rendered from the inventory, labelled as this cluster's (see `StrayObjectsPhase`).
    func owned(_ object: KubeObject) -> KubeObject { Ownership.labelled(object, cluster: inventory.cluster.name) }

    /// A plan's step for cluster objects: the lines of `planRendered`, or unchanged.
    static func planned(_ lines: [String]) -> Done {
        lines.isEmpty ? .unchanged : .changed(lines.joined(separator: "\n"))
    }
}
