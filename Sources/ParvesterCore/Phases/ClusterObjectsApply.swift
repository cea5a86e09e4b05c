import Kube

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
}
