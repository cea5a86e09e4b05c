import Foundation

/// Nodes as the API sees them: name → Ready condition status ("True", "False", "Unknown").
public enum KubeNodes {
    public static func readiness(_ client: KubeHTTPClient) async throws -> [String: String] {
        let response = try await client.request("GET", "/api/v1/nodes")
        guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
            throw KubeError.status(response, doing: "listing nodes")
        }
        var result: [String: String] = [:]
        for item in items {
            guard let name = (item["metadata"] as? [String: Any])?["name"] as? String else { continue }
            let conditions = ((item["status"] as? [String: Any])?["conditions"] as? [[String: Any]]) ?? []
            result[name] = conditions.first { $0["type"] as? String == "Ready" }?["status"] as? String ?? "Unknown"
        }
        return result
    }
}
