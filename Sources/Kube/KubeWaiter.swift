import Foundation

/// Waits on what `kubectl rollout status` and `kubectl wait --for=condition` wait on, polling, with a
/// timeout whose message names the object and what it last showed.
public struct KubeWaiter: Sendable {
    public let client: KubeHTTPClient
    public let discovery: KubeDiscovery

    public init(client: KubeHTTPClient, discovery: KubeDiscovery) {
        self.client = client
        self.discovery = discovery
    }

    /// Until Established. A CRD whose names the server refused (NamesAccepted=False: a kind, plural or
    /// listKind another CRD already uses) never becomes Established: that fails at once, with the
    /// server's reason, instead of at the timeout.
    public func waitEstablished(_ crd: String, timeout: TimeInterval) async throws {
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/\(crd)"
        try await poll("CustomResourceDefinition \(crd) to be Established", path, timeout: timeout) { json in
            let conditions = (json["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
            if let refused = conditions.first(where: { $0["type"] as? String == "NamesAccepted" && $0["status"] as? String == "False" }) {
                throw KubeError(.api, "CustomResourceDefinition \(crd): the server refused its names (NamesAccepted=False, \(refused["reason"] as? String ?? "")): \(refused["message"] as? String ?? "")",
                                reason: refused["reason"] as? String)
            }
            return Self.condition(json, "Established")
        }
    }

    /// Deployments, DaemonSets and StatefulSets: rolled out; anything else: the `condition` True.
    public func waitReady(_ object: KubeObject, namespace: String?, condition: String? = nil, timeout: TimeInterval) async throws {
        let resource = try await discovery.resource(apiVersion: object.apiVersion, kind: object.kind)
        let target = resource.namespaced ? (object.namespace ?? namespace ?? "default") : nil
        let path = resource.path(namespace: target, name: object.name)
        if let condition {
            try await poll("\(object.description(in: target)) to be \(condition)", path, timeout: timeout) { Self.condition($0, condition) }
        } else {
            try await poll("\(object.description(in: target)) to roll out", path, timeout: timeout) { Self.rolledOut($0, kind: object.kind) }
        }
    }

    public static func isWorkload(_ kind: String) -> Bool { ["Deployment", "DaemonSet", "StatefulSet"].contains(kind) }

    private func poll(_ what: String, _ path: String, timeout: TimeInterval, _ check: ([String: Any]) throws -> (Bool, String)) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = "nothing yet"
        while true {
            let response = try await client.send("GET", path)
            if response.status == 200, let json = response.json {
                let (done, state) = try check(json)
                if done { return }
                seen = state
            } else if response.status != 404 {
                throw KubeError.status(response, doing: "waiting for \(what)")
            } else {
                seen = "not found"
            }
            guard Date() < deadline else {
                throw KubeError(.timeout, "timed out after \(Int(timeout)) s waiting for \(what); last seen: \(seen)")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    public static func condition(_ json: [String: Any], _ type: String) -> (Bool, String) {
        let status = json["status"] as? [String: Any] ?? [:]
        let conditions = status["conditions"] as? [[String: Any]] ?? []
        let match = conditions.first { $0["type"] as? String == type }
        let phase = (status["phase"] as? String).map { "phase \($0), " } ?? ""
        let shown = match.map { "\(type)=\($0["status"] as? String ?? "?")" + (($0["message"] as? String).map { ": \($0)" } ?? "") } ?? "no \(type) condition"
        return (match?["status"] as? String == "True", phase + shown)
    }

    public static func rolledOut(_ json: [String: Any], kind: String) -> (Bool, String) {
        let meta = json["metadata"] as? [String: Any] ?? [:]
        let spec = json["spec"] as? [String: Any] ?? [:]
        let status = json["status"] as? [String: Any] ?? [:]
        func int(_ d: [String: Any], _ key: String) -> Int { d[key] as? Int ?? 0 }
        let observed = int(status, "observedGeneration") >= (meta["generation"] as? Int ?? 1)
        switch kind {
        case "DaemonSet":
            let desired = int(status, "desiredNumberScheduled")
            let done = observed && desired > 0 && int(status, "updatedNumberScheduled") == desired && int(status, "numberAvailable") == desired
            return (done, "\(int(status, "numberAvailable")) of \(desired) available")
        default:
            let replicas = spec["replicas"] as? Int ?? 1
            let ready = kind == "StatefulSet" ? int(status, "readyReplicas") : int(status, "availableReplicas")
            let done = observed && int(status, "updatedReplicas") == replicas && ready == replicas
            return (done, "\(ready) of \(replicas) \(kind == "StatefulSet" ? "ready" : "available")")
        }
    }
}
