import Foundation

/// A Node as Parvester reads it: who it is, its role, where it answers, and whether it is going away.
public struct KubeNodeInfo: Sendable {
    public var name: String
    public var labels: [String: String]
    public var internalAddresses: [String]
    public var ready: String
    public var unschedulable: Bool
    public var finalizers: [String]
    public var deleting: Bool
    /// `status.nodeInfo.kubeletVersion`: on RKE2 the release, `v1.28.11+rke2r1`.
    public var kubeletVersion: String
    public var annotations: [String: String]

    /// RKE2 labels its servers control-plane and etcd.
    public var isServer: Bool { labels["node-role.kubernetes.io/control-plane"] == "true" || labels["node-role.kubernetes.io/etcd"] == "true" }

    public init?(_ item: [String: Any]) {
        guard let meta = item["metadata"] as? [String: Any], let name = meta["name"] as? String else { return nil }
        self.name = name
        labels = meta["labels"] as? [String: String] ?? [:]
        finalizers = meta["finalizers"] as? [String] ?? []
        annotations = meta["annotations"] as? [String: String] ?? [:]
        deleting = meta["deletionTimestamp"] != nil
        let status = item["status"] as? [String: Any] ?? [:]
        internalAddresses = ((status["addresses"] as? [[String: Any]]) ?? []).filter { $0["type"] as? String == "InternalIP" }.compactMap { $0["address"] as? String }
        kubeletVersion = (status["nodeInfo"] as? [String: Any])?["kubeletVersion"] as? String ?? ""
        let conditions = (status["conditions"] as? [[String: Any]]) ?? []
        ready = conditions.first { $0["type"] as? String == "Ready" }?["status"] as? String ?? "Unknown"
        unschedulable = (item["spec"] as? [String: Any])?["unschedulable"] as? Bool ?? false
    }
}

public enum KubeNodes {
    public static func readiness(_ client: KubeHTTPClient) async throws -> [String: String] {
        Dictionary(try await list(client).map { ($0.name, $0.ready) }, uniquingKeysWith: { a, _ in a })
    }

    public static func list(_ client: KubeHTTPClient, labelSelector: String? = nil) async throws -> [KubeNodeInfo] {
        var path = "/api/v1/nodes"
        if let labelSelector { path += "?labelSelector=" + (labelSelector.addingPercentEncoding(withAllowedCharacters: .urlQueryValue) ?? labelSelector) }
        let response = try await client.request("GET", path)
        guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
            throw KubeError.status(response, doing: "listing nodes")
        }
        return items.compactMap(KubeNodeInfo.init)
    }

    /// The Node, or nil when it is gone.
    public static func get(_ client: KubeHTTPClient, _ name: String) async throws -> KubeNodeInfo? {
        let response = try await client.request("GET", "/api/v1/nodes/\(name)")
        if response.status == 404 { return nil }
        guard response.status == 200, let json = response.json else { throw KubeError.status(response, doing: "reading Node \(name)") }
        return KubeNodeInfo(json)
    }
}

extension CharacterSet {
    /// What may stand unescaped in a query value (RFC 3986 unreserved).
    public static let urlQueryValue = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
