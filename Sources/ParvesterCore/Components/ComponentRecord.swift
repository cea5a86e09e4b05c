import Foundation
import Kube

/// What Parvester applied for a component, kept in the cluster as a ConfigMap in kube-system (in the
/// manner of the parent object of kubectl's ApplySets): when the component's source or release changes
/// (Multus from its release to RKE2's chart), the objects the old one had and the new one lacks are found
/// there and deleted. Only recorded objects are ever deleted, and never a CustomResourceDefinition
/// (deleting one deletes every object of its kind; RKE2's Multus serves the same CRD).
struct ComponentRecord {
    static let namespace = "kube-system"

    struct Entry: Codable, Hashable, Sendable {
        var apiVersion: String
        var kind: String
        var namespace: String?
        var name: String
        var shown: String { "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)" }
    }

    let component: ComponentKind
    var name: String { "parvester-component-\(component.rawValue.lowercased())" }
    var path: String { "/api/v1/namespaces/\(Self.namespace)/configmaps/\(name)" }

    /// The recorded objects, or nil when nothing is recorded.
    func read(_ kube: KubeHTTPClient) async throws -> [Entry]? {
        let response = try await kube.send("GET", path)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw KubeError.status(response, doing: "reading ConfigMap \(Self.namespace)/\(name)") }
        let text = (response.json?["data"] as? [String: String])?["objects"] ?? "[]"
        return try JSONDecoder().decode([Entry].self, from: Data(text.utf8))
    }

    /// The objects as their namespace will be (a namespaced object without one goes to `default`).
    static func entries(_ objects: [KubeObject], discovery: KubeDiscovery) async -> [Entry] {
        var entries: [Entry] = []
        for object in objects {
            let namespaced = (try? await discovery.resource(apiVersion: object.apiVersion, kind: object.kind))?.namespaced ?? (object.namespace != nil)
            entries.append(Entry(apiVersion: object.apiVersion, kind: object.kind, namespace: namespaced ? (object.namespace ?? "default") : nil, name: object.name))
        }
        return entries
    }

    /// Recorded objects the current set lacks; CRDs are never among them.
    static func stale(_ recorded: [Entry]?, current: [Entry]) -> [Entry] {
        let keep = Set(current)
        return (recorded ?? []).filter { !keep.contains($0) && $0.kind != "CustomResourceDefinition" }
    }

    func write(_ entries: [Entry], cluster: String, kube: KubeHTTPClient, discovery: KubeDiscovery) async throws {
        let objects = String(decoding: try JSONEncoder().encode(entries), as: UTF8.self)
        let body: [String: Any] = [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": name, "namespace": Self.namespace, "labels": [Ownership.clusterLabel: cluster, "app.kubernetes.io/managed-by": "parvester"]],
            "data": ["objects": objects],
        ]
        let text = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
        let result = await KubeApplier(client: kube, discovery: discovery).applyOne(try KubeObject.parse(text, source: "component record")[0])
        if result.outcome == .failed { throw ManifestError("\(result.object): \(result.error ?? "failed")") }
    }

    func remove(_ kube: KubeHTTPClient) async throws {
        let response = try await kube.send("DELETE", path)
        guard (200..<300).contains(response.status) || response.status == 404 else { throw KubeError.status(response, doing: "deleting ConfigMap \(Self.namespace)/\(name)") }
    }

    /// Deletes the entries (gone already is fine); returns what was deleted.
    static func prune(_ entries: [Entry], kube: KubeHTTPClient, discovery: KubeDiscovery) async throws -> [String] {
        var deleted: [String] = []
        for entry in entries {
            guard let resource = try? await discovery.resource(apiVersion: entry.apiVersion, kind: entry.kind) else { continue }  // its kind is gone
            let response = try await kube.send("DELETE", resource.path(namespace: resource.namespaced ? entry.namespace : nil, name: entry.name))
            if response.status == 404 { continue }
            guard (200..<300).contains(response.status) else { throw KubeError.status(response, doing: "deleting \(entry.shown)") }
            deleted.append(entry.shown)
        }
        return deleted
    }
}
