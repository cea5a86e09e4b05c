import Foundation

/// Where objects of a kind live: `/apis/apps/v1/namespaces/NS/deployments/NAME`.
public struct KubeResource: Sendable, Equatable {
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public func path(namespace: String?, name: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(namespace)" }
        path += "/\(plural)"
        if let name { path += "/\(name)" }
        return path
    }
}

/// The API's group/version/kind → resource map: aggregated discovery where the server offers it (one
/// request), else `/api/v1`, `/apis` and each `/apis/GROUP/VERSION`. Cached; a kind not found refreshes
/// it once (a CRD may just have been added). Parallel callers share one load in flight: eight apply
/// workers that all miss the cache fetch discovery once, not eight times.
public actor KubeDiscovery {
    private let client: KubeHTTPClient
    private var resources: [String: KubeResource]?  // "group/version/Kind"
    /// Counts finished loads, so a caller that missed a kind reloads only if nobody did since.
    private var generation = 0
    private var inFlight: (id: Int, task: Task<[String: KubeResource], Error>)?
    private var nextLoadID = 0
    /// Kinds a fresh load did not have, and when: asked again within a second, they fail without yet
    /// another load (a manifest of 200 objects of a kind whose CRD is missing costs one reload, not 200).
    private var missing: [String: Date] = [:]
    public private(set) var usedAggregated = false

    public init(client: KubeHTTPClient) { self.client = client }

    public func resource(apiVersion: String, kind: String) async throws -> KubeResource {
        let key = "\(apiVersion.contains("/") ? apiVersion : "/" + apiVersion)/\(kind)"
        let seen = generation
        if let found = try await current()[key] { return found }
        let recentlyMissing = missing[key].map { Date().timeIntervalSince($0) < 1 } ?? false
        if !recentlyMissing, let found = try await reload(unlessNewerThan: seen)[key] { return found }
        if !recentlyMissing { missing[key] = Date() }
        throw KubeError(.api, "the server has no kind \(kind) in \(apiVersion) (is its CRD applied and Established?)", status: 404, reason: "NotFound")
    }

    /// Forgets the map (CRDs were just Established); a load already in flight is not waited for.
    public func invalidate() {
        resources = nil
        inFlight = nil
        missing = [:]
    }

    private func current() async throws -> [String: KubeResource] {
        if let resources { return resources }
        return try await reload(unlessNewerThan: generation)
    }

    /// One shared load: joins the one in flight, or starts one unless a load finished after `seen`.
    private func reload(unlessNewerThan seen: Int) async throws -> [String: KubeResource] {
        if generation > seen, let resources { return resources }
        if let inFlight { return try await inFlight.task.value }
        nextLoadID += 1
        let id = nextLoadID
        let task = Task { try await self.load() }
        inFlight = (id, task)
        do {
            let map = try await task.value
            if inFlight?.id == id {  // not invalidated meanwhile
                resources = map
                generation += 1
                inFlight = nil
                missing = [:]
            }
            return map
        } catch {
            if inFlight?.id == id { inFlight = nil }
            throw error
        }
    }

    private func load() async throws -> [String: KubeResource] {
        var map: [String: KubeResource] = [:]
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        let legacy = try await client.send("GET", "/api", accept: accept)
        let named = try await client.send("GET", "/apis", accept: accept)
        if legacy.contentType.contains("as=APIGroupDiscoveryList"), named.contentType.contains("as=APIGroupDiscoveryList") {
            usedAggregated = true
            for response in [legacy, named] {
                for group in response.json?["items"] as? [[String: Any]] ?? [] {
                    let name = (group["metadata"] as? [String: Any])?["name"] as? String ?? ""
                    for version in group["versions"] as? [[String: Any]] ?? [] {
                        let v = version["version"] as? String ?? ""
                        for r in version["resources"] as? [[String: Any]] ?? [] {
                            guard let plural = r["resource"] as? String, let kind = (r["responseKind"] as? [String: Any])?["kind"] as? String else { continue }
                            map["\(name)/\(v)/\(kind)"] = KubeResource(group: name, version: v, plural: plural, kind: kind,
                                                                      namespaced: r["scope"] as? String == "Namespaced")
                        }
                    }
                }
            }
            return map
        }
        usedAggregated = false
        var groupVersions = ["v1"]
        for group in named.json?["groups"] as? [[String: Any]] ?? [] {
            for version in group["versions"] as? [[String: Any]] ?? [] {
                if let gv = version["groupVersion"] as? String { groupVersions.append(gv) }
            }
        }
        for gv in groupVersions {
            let response = try await client.send("GET", gv == "v1" ? "/api/v1" : "/apis/\(gv)")
            guard response.status == 200 else { continue }  // a group that went away meanwhile
            let group = gv.contains("/") ? String(gv.split(separator: "/")[0]) : ""
            let version = String(gv.split(separator: "/").last ?? "")
            for r in response.json?["resources"] as? [[String: Any]] ?? [] {
                guard let plural = r["name"] as? String, !plural.contains("/"), let kind = r["kind"] as? String else { continue }
                map["\(group)/\(version)/\(kind)"] = KubeResource(group: group, version: version, plural: plural, kind: kind,
                                                                 namespaced: r["namespaced"] as? Bool ?? false)
            }
        }
        return map
    }
}
