import Foundation

/// What applying one object did.
public struct ApplyResult: Sendable {
    public enum Outcome: String, Sendable, Encodable, CaseIterable { case created, configured, unchanged, failed }
    public var object: String
    public var source: String
    public var outcome: Outcome
    public var error: String?
}

/// Server-side apply of manifest objects, as `kubectl apply --server-side` does it: namespaces first,
/// then CRDs (waited for until Established, and discovery refreshed), then cluster-scoped RBAC and
/// service accounts, then the rest; objects within a stage in parallel.
public struct KubeApplier: Sendable {
    public let client: KubeHTTPClient
    public let discovery: KubeDiscovery
    public var fieldManager = "parvester"
    /// Take fields over from other managers: Parvester owns the objects it applies.
    public var force = true
    public var dryRun = false
    public var defaultNamespace = "default"
    public var width = 8
    public var establishTimeout: TimeInterval = 120

    public init(client: KubeHTTPClient, discovery: KubeDiscovery) {
        self.client = client
        self.discovery = discovery
    }

    static let clusterSetup: Set<String> = ["ClusterRole", "ClusterRoleBinding", "ServiceAccount", "PriorityClass"]

    /// Applies in stages; a failed object does not stop the others, but later stages wait for earlier ones.
    public func apply(_ objects: [KubeObject]) async -> [ApplyResult] {
        let stages: [[KubeObject]] = [
            objects.filter { $0.kind == "Namespace" },
            objects.filter { $0.kind == "CustomResourceDefinition" },
            objects.filter { Self.clusterSetup.contains($0.kind) },
            objects.filter { !["Namespace", "CustomResourceDefinition"].contains($0.kind) && !Self.clusterSetup.contains($0.kind) },
        ]
        var results: [ApplyResult] = []
        for (index, stage) in stages.enumerated() where !stage.isEmpty {
            results += await ParallelRunner.map(stage, width: width) { await self.applyOne($0) }
            if index == 1 {  // CRDs: their kinds are served only once Established
                let waiter = KubeWaiter(client: client, discovery: discovery)
                let applied = zip(stage, results.suffix(stage.count)).filter { $0.1.outcome != .failed && !dryRun }.map(\.0)
                let timeout = establishTimeout
                results += await ParallelRunner.map(applied, width: width) { object -> ApplyResult? in
                    do {
                        try await waiter.waitEstablished(object.name, timeout: timeout)
                        return nil
                    } catch {
                        return ApplyResult(object: object.description, source: object.source, outcome: .failed, error: "\(error)")
                    }
                }.compactMap { $0 }
                await discovery.invalidate()
            }
        }
        return results
    }

    /// An object without the server's bookkeeping, comparable as text.
    static func content(_ json: [String: Any]?) -> Data? {
        guard var json else { return nil }
        if var meta = json["metadata"] as? [String: Any] {
            for key in ["resourceVersion", "managedFields", "generation"] { meta[key] = nil }
            json["metadata"] = meta
        }
        return try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
    }

    public func applyOne(_ object: KubeObject) async -> ApplyResult {
        do {
            let resource = try await discovery.resource(apiVersion: object.apiVersion, kind: object.kind)
            let namespace = resource.namespaced ? (object.namespace ?? defaultNamespace) : nil
            let path = resource.path(namespace: namespace, name: object.name)
            let before = try await client.send("GET", path)
            guard before.status == 200 || before.status == 404 else { throw KubeError.status(before, doing: "reading \(object.description) (\(object.source))") }
            var query = "?fieldManager=\(fieldManager)"
            if force { query += "&force=true" }
            if dryRun { query += "&dryRun=All" }
            let response = try await client.send("PATCH", path + query, body: object.json(namespace: namespace),
                                                 contentType: "application/apply-patch+yaml")
            guard response.status == 200 || response.status == 201 else {
                throw KubeError.status(response, doing: "applying \(object.description) from \(object.source)")
            }
            let outcome: ApplyResult.Outcome
            if before.status == 404 {
                outcome = .created
            } else if dryRun {
                // Nothing is stored, so no new resourceVersion: compare what the object would become.
                outcome = Self.content(before.json) == Self.content(response.json) ? .unchanged : .configured
            } else {
                let old = (before.json?["metadata"] as? [String: Any])?["resourceVersion"] as? String
                let new = (response.json?["metadata"] as? [String: Any])?["resourceVersion"] as? String
                outcome = old == new ? .unchanged : .configured
            }
            return ApplyResult(object: object.description, source: object.source, outcome: outcome)
        } catch {
            return ApplyResult(object: object.description, source: object.source, outcome: .failed, error: "\(error)")
        }
    }
}
