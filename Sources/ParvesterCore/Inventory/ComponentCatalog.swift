/// The cluster components the memo installs, with the versions it was written against and where
/// their release manifests live. A different version rewrites the URLs.
public enum ComponentKind: String, Sendable, CaseIterable {
    // Declared in apply order: storage first (CDI needs a StorageClass), then KubeVirt, CDI, Multus.
    case localPathProvisioner, kubevirt, cdi, multus

    public var title: String {
        switch self {
        case .localPathProvisioner: return "Local Path Provisioner"
        case .kubevirt: return "KubeVirt"
        case .cdi: return "CDI"
        case .multus: return "Multus"
        }
    }

    public var defaultVersion: String {
        switch self {
        case .localPathProvisioner: return "v0.0.28"
        case .kubevirt: return "v1.1.1"
        case .cdi: return "v1.59.0"
        case .multus: return "v4.0.2"
        }
    }

    /// Release manifests for a version, in the order they are applied (operator before its CR).
    public func manifestURLs(version: String) -> [String] {
        switch self {
        case .localPathProvisioner:
            return ["https://raw.githubusercontent.com/rancher/local-path-provisioner/\(version)/deploy/local-path-storage.yaml"]
        case .kubevirt:
            let base = "https://github.com/kubevirt/kubevirt/releases/download/\(version)"
            return ["\(base)/kubevirt-operator.yaml", "\(base)/kubevirt-cr.yaml"]
        case .cdi:
            let base = "https://github.com/kubevirt/containerized-data-importer/releases/download/\(version)"
            return ["\(base)/cdi-operator.yaml", "\(base)/cdi-cr.yaml"]
        case .multus:
            return ["https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/\(version)/deployments/multus-daemonset.yml"]
        }
    }

    /// A release URL fetched through a mirror: `https://github.com/a/b` → `MIRROR/github.com/a/b`.
    /// Without a mirror, the URL itself.
    public static func mirrored(_ url: String, through mirror: String?) -> String {
        guard let mirror, let schemeEnd = url.range(of: "://") else { return url }
        let prefix = mirror.hasSuffix("/") ? mirror : mirror + "/"
        return prefix + url[schemeEnd.upperBound...]
    }
}
