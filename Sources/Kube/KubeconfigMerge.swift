import YAML

extension Kubeconfig {
    /// `other`'s clusters, users and contexts added to this kubeconfig, replacing entries of the same
    /// name (as `kubectl config` does); the current context is set only if there was none.
    public func merging(_ other: Kubeconfig) -> Kubeconfig {
        var pairs = document.mapping.map { $0.map { ($0.key.scalar?.value ?? "", $0.value) } } ?? []
        func list(_ key: String) -> [YAMLNode] { pairs.first { $0.0 == key }?.1.sequence ?? [] }
        func set(_ key: String, _ value: YAMLNode) {
            if let index = pairs.firstIndex(where: { $0.0 == key }) { pairs[index].1 = value } else { pairs.append((key, value)) }
        }
        for key in ["clusters", "users", "contexts"] {
            let added = other.document[key]?.sequence ?? []
            let names = Set(added.compactMap { $0["name"]?.scalar?.value })
            set(key, .sequence(list(key).filter { !names.contains($0["name"]?.scalar?.value ?? "") } + added))
        }
        if pairs.first(where: { $0.0 == "apiVersion" }) == nil { set("apiVersion", .string("v1")) }
        if pairs.first(where: { $0.0 == "kind" }) == nil { set("kind", .string("Config")) }
        let current = pairs.first { $0.0 == "current-context" }?.1.scalar?.value ?? ""
        if current.isEmpty, let name = other.document["current-context"]?.scalar?.value { set("current-context", .string(name)) }
        var copy = self
        copy.replaceDocument(.mapping(pairs))
        return copy
    }

    /// The kubeconfig with every embedded key and token replaced by a placeholder, for showing.
    public func redacted() -> Kubeconfig {
        var copy = self
        copy.replaceDocument(Self.redacting(document))
        return copy
    }

    private static func redacting(_ node: YAMLNode) -> YAMLNode {
        if let pairs = node.mapping {
            return .mapping(pairs.map { pair in
                let key = pair.key.scalar?.value ?? ""
                if ["client-key-data", "token", "password"].contains(key) { return (key, .string("REDACTED (parvester kubeconfig --raw shows it)")) }
                return (key, redacting(pair.value))
            })
        }
        if let items = node.sequence { return .sequence(items.map(redacting)) }
        return node
    }
}
