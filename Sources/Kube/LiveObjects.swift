import Foundation

/// What the cluster holds for a set of objects about to be applied, read with one request per kind and
/// namespace (a LIST, paged) instead of one GET per object, so that an apply costs about one request
/// per object. The outcome of an apply (created, configured, unchanged) is then found by comparing
/// this with the server's answer.
struct LiveObjects: Sendable {
    enum State: Sendable {
        case absent
        case present(Data)  // the object's JSON as listed
        /// Not read (its kind is unknown yet, or the LIST failed): the applier GETs it itself.
        case unknown
    }

    private var states: [String: State] = [:]

    static func key(_ resource: KubeResource, namespace: String?, name: String) -> String {
        resource.path(namespace: namespace, name: name)
    }

    func state(_ resource: KubeResource, namespace: String?, name: String) -> State {
        states[Self.key(resource, namespace: namespace, name: name)] ?? .unknown
    }

    /// Reads every (resource, namespace) of `targets` in parallel: a single object by GET, more by LIST.
    static func read(_ targets: [(resource: KubeResource, namespace: String?, name: String)], client: KubeHTTPClient,
                     width: Int) async -> LiveObjects {
        var groups: [String: (resource: KubeResource, namespace: String?, names: Set<String>)] = [:]
        for target in targets {
            let path = target.resource.path(namespace: target.namespace)
            groups[path, default: (target.resource, target.namespace, [])].names.insert(target.name)
        }
        let read = await ParallelRunner.map(Array(groups.values), width: width) { group -> [String: State] in
            if group.names.count == 1, let name = group.names.first {
                return [key(group.resource, namespace: group.namespace, name: name): await one(group.resource, group.namespace, name, client: client)]
            }
            guard let listed = await list(group.resource, group.namespace, client: client) else { return [:] }
            var found: [String: State] = [:]
            for name in group.names { found[key(group.resource, namespace: group.namespace, name: name)] = listed[name].map(State.present) ?? .absent }
            return found
        }
        var live = LiveObjects()
        for states in read { live.states.merge(states) { $1 } }
        return live
    }

    static func one(_ resource: KubeResource, _ namespace: String?, _ name: String, client: KubeHTTPClient) async -> State {
        guard let response = try? await client.send("GET", resource.path(namespace: namespace, name: name)) else { return .unknown }
        switch response.status {
        case 200: return .present(response.body)
        case 404 where response.contentType.hasPrefix("application/json"): return .absent
        default: return .unknown
        }
    }

    /// name → JSON of every object of a kind in a namespace (or cluster-wide), following `continue`.
    private static func list(_ resource: KubeResource, _ namespace: String?, client: KubeHTTPClient) async -> [String: Data]? {
        var objects: [String: Data] = [:]
        var token: String?
        repeat {
            var path = resource.path(namespace: namespace) + "?limit=500"
            if let token { path += "&continue=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token) }
            guard let response = try? await client.send("GET", path), response.status == 200, let json = response.json else { return nil }
            for item in json["items"] as? [[String: Any]] ?? [] {
                guard let name = (item["metadata"] as? [String: Any])?["name"] as? String,
                      let data = try? JSONSerialization.data(withJSONObject: item) else { continue }
                objects[name] = data
            }
            token = (json["metadata"] as? [String: Any])?["continue"] as? String
        } while token?.isEmpty == false
        return objects
    }
}
