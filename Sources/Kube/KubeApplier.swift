import Foundation

/// What applying one object did.
public struct ApplyResult: Sendable {
    public enum Outcome: String, Sendable, Encodable, CaseIterable { case created, configured, unchanged, failed }
    public var object: String
    public var source: String
    public var outcome: Outcome
    public var error: String?
    /// For a server dry run of an object already there: the fields the apply would change.
    public var changes: [String] = []
}

/// Server-side apply of manifest objects, as `kubectl apply --server-side` does it: namespaces first,
/// then CRDs (waited for until Established, and discovery refreshed), then cluster-scoped RBAC and
/// service accounts, then the rest; objects within a stage in parallel.
///
/// Before each stage the live objects are read once per kind and namespace (`LiveObjects`); each
/// object is then one PATCH. The outcome compares content, not resourceVersion: `created` when the
/// object was not there, `configured` when its content (everything but status and the server's
/// bookkeeping: resourceVersion, managedFields, generation) differs after the apply, `unchanged`
/// otherwise, even where the server wrote new managedFields (a bare Namespace's second apply, a field
/// another manager also owns).
public struct KubeApplier: Sendable {
    public let client: KubeHTTPClient
    public let discovery: KubeDiscovery
    public var fieldManager = "parvester"
    /// Take fields over from other managers: Parvester owns the objects `up` applies. `parvester apply`
    /// does not, unless told (`--force-conflicts`), as kubectl does not.
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
        let context = ApplyContext(namespaces: Set(objects.filter { $0.kind == "Namespace" }.map(\.name)),
                                   kinds: Set(objects.filter { $0.kind == "CustomResourceDefinition" }.compactMap(Self.servedKind)))
        let stages: [[KubeObject]] = [
            objects.filter { $0.kind == "Namespace" },
            objects.filter { $0.kind == "CustomResourceDefinition" },
            objects.filter { Self.clusterSetup.contains($0.kind) },
            objects.filter { !["Namespace", "CustomResourceDefinition"].contains($0.kind) && !Self.clusterSetup.contains($0.kind) },
        ]
        var results: [ApplyResult] = []
        for (index, stage) in stages.enumerated() where !stage.isEmpty {
            let live = await readLive(stage)
            var stageResults = await ParallelRunner.map(stage, width: width) { await self.applyOne($0, live: live, context: context) }
            if index == 1 && !dryRun {  // CRDs: their kinds are served only once Established
                stageResults = await waitEstablished(stage, stageResults)
                await discovery.invalidate()
            }
            results += stageResults
        }
        return results
    }

    /// Each applied CRD waited for until Established; one whose names the server refused fails at once.
    private func waitEstablished(_ crds: [KubeObject], _ results: [ApplyResult]) async -> [ApplyResult] {
        let waiter = KubeWaiter(client: client, discovery: discovery)
        let timeout = establishTimeout
        return await ParallelRunner.map(Array(zip(crds, results)), width: width) { crd, result in
            guard result.outcome != .failed else { return result }
            do {
                try await waiter.waitEstablished(crd.name, timeout: timeout)
                return result
            } catch {
                return ApplyResult(object: result.object, source: result.source, outcome: .failed, error: "\(error)")
            }
        }
    }

    private func readLive(_ stage: [KubeObject]) async -> LiveObjects {
        var targets: [(resource: KubeResource, namespace: String?, name: String)] = []
        for object in stage {
            guard let resource = try? await discovery.resource(apiVersion: object.apiVersion, kind: object.kind) else { continue }
            targets.append((resource, resource.namespaced ? (object.namespace ?? defaultNamespace) : nil, object.name))
        }
        return await LiveObjects.read(targets, client: client, width: width)
    }

    /// "group/Kind" a CRD serves, to recognise its objects in the same apply.
    static func servedKind(_ crd: KubeObject) -> String? {
        guard let group = crd.node["spec"]?["group"]?.scalar?.value, let kind = crd.node["spec"]?["names"]?["kind"]?.scalar?.value else { return nil }
        return "\(group)/\(kind)"
    }

    /// An object without the server's bookkeeping and status, comparable as text.
    static func content(_ data: Data?) -> Data? {
        guard let data, var json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        if var meta = json["metadata"] as? [String: Any] {
            for key in ["resourceVersion", "managedFields", "generation"] { meta[key] = nil }
            json["metadata"] = meta
        }
        for key in ["status", "apiVersion", "kind"] { json[key] = nil }  // LIST items carry no apiVersion/kind
        return try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
    }

    public func applyOne(_ object: KubeObject) async -> ApplyResult {
        await applyOne(object, live: LiveObjects(), context: ApplyContext(namespaces: [], kinds: []))
    }

    func applyOne(_ object: KubeObject, live: LiveObjects, context: ApplyContext) async -> ApplyResult {
        var name = object.description
        do {
            let resource: KubeResource
            do {
                resource = try await discovery.resource(apiVersion: object.apiVersion, kind: object.kind)
            } catch let error as KubeError where error.status == 404 && dryRun && context.kinds.contains("\(object.group)/\(object.kind)") {
                throw KubeError(.api, "\(error.message). Its CRD is in this same apply, and a server dry run stores nothing, so the server cannot know the kind yet: this is the dry run's limit, not necessarily an error", status: 404, reason: "NotFound")
            }
            let namespace = resource.namespaced ? (object.namespace ?? defaultNamespace) : nil
            name = object.description(in: namespace)
            let path = resource.path(namespace: namespace, name: object.name)
            var before = live.state(resource, namespace: namespace, name: object.name)
            if case .unknown = before { before = await LiveObjects.one(resource, namespace, object.name, client: client) }
            var query = "?fieldManager=\(fieldManager)"
            if force { query += "&force=true" }
            if dryRun { query += "&dryRun=All" }
            let response = try await client.send("PATCH", path + query, body: object.json(namespace: namespace),
                                                 contentType: "application/apply-patch+yaml")
            guard response.status == 200 || response.status == 201 else {
                throw ApplyFailure.explain(response, object: name, source: object.source, namespace: namespace, force: force,
                                           dryRun: dryRun, context: context)
            }
            let outcome: ApplyResult.Outcome
            var changes: [String] = []
            switch before {
            case .absent: outcome = .created
            case .present(let old):
                let (oldContent, newContent) = (Self.content(old), Self.content(response.body))
                outcome = oldContent == newContent ? .unchanged : .configured
                if dryRun && outcome == .configured { changes = FieldDiff.lines(old: oldContent, new: newContent) }
            case .unknown: outcome = response.status == 201 ? .created : .configured  // could not read it: say what may have happened
            }
            return ApplyResult(object: name, source: object.source, outcome: outcome, changes: changes)
        } catch {
            return ApplyResult(object: name, source: object.source, outcome: .failed, error: "\(error)")
        }
    }
}

/// What else an apply holds, for messages about a server dry run: Namespaces and CRD kinds it creates.
struct ApplyContext: Sendable {
    var namespaces: Set<String>
    var kinds: Set<String>
}
