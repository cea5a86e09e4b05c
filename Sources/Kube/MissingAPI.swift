/// Names an API by a request path, for "X is not available" messages: the components' APIs by what
/// provides them, anything else by group and version.
enum MissingAPI {
    private static let known: [String: String] = [
        "subresources.kubevirt.io": "the KubeVirt subresource API (virt-api)",
        "kubevirt.io": "KubeVirt's API (its CRDs, installed by virt-operator)",
        "upload.cdi.kubevirt.io": "CDI's upload API (cdi-apiserver)",
        "cdi.kubevirt.io": "CDI's API (its CRDs, installed by cdi-operator)",
        "k8s.cni.cncf.io": "Multus's NetworkAttachmentDefinition API",
    ]
    /// Groups served by an aggregated API server rather than by CRDs.
    private static let aggregated: Set<String> = ["subresources.kubevirt.io", "upload.cdi.kubevirt.io", "metrics.k8s.io"]

    static func groupVersion(_ path: String) -> (group: String, version: String)? {
        let parts = path.split(separator: "?")[0].split(separator: "/").map(String.init)
        if parts.first == "apis", parts.count >= 3 { return (parts[1], parts[2]) }
        if parts.first == "api", parts.count >= 2 { return ("", parts[1]) }
        return nil
    }

    static func name(forPath path: String) -> String {
        guard let (group, version) = groupVersion(path) else { return "the path \(path.split(separator: "?").first.map(String.init) ?? path)" }
        if let name = known[group] { return name }
        return group.isEmpty ? "the core API \(version)" : "the API \(group)/\(version)"
    }

    static func isAggregated(_ path: String) -> Bool { groupVersion(path).map { aggregated.contains($0.group) } ?? false }
}
