import Foundation
import YAML

/// One object of a manifest, with where it came from (for messages: `file#3 Deployment ns/name`).
public struct KubeObject: Sendable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var namespace: String?
    public var source: String
    public var node: YAMLNode

    public init(apiVersion: String, kind: String, name: String, namespace: String?, source: String, node: YAMLNode) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.source = source
        self.node = node
    }

    public var group: String { apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : "" }
    public var version: String { String(apiVersion.split(separator: "/").last ?? "") }
    public var description: String { description(in: namespace) }

    /// `Kind NAMESPACE/NAME` once the namespace it goes to is known (a manifest may name none).
    public func description(in namespace: String?) -> String { "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)" }

    /// The objects of a multi-document manifest; `List` objects are unpacked, empty documents skipped.
    public static func parse(_ text: String, source: String) throws -> [KubeObject] {
        var objects: [KubeObject] = []
        for (index, document) in try YAMLParser.parseAll(text, file: source).enumerated() where !document.isNull {
            try collect(document, source: "\(source)#\(index + 1)", into: &objects)
        }
        return objects
    }

    /// The objects of one document already parsed (a rendered template).
    public static func from(_ node: YAMLNode, source: String) throws -> [KubeObject] {
        var objects: [KubeObject] = []
        try collect(node, source: source, into: &objects)
        return objects
    }

    private static func collect(_ node: YAMLNode, source: String, into objects: inout [KubeObject]) throws {
        guard node.mapping != nil else { throw KubeError(.manifest, "\(source): a manifest document must be a mapping, not \(node.kindDescription)") }
        guard let apiVersion = node["apiVersion"]?.scalar?.value, let kind = node["kind"]?.scalar?.value else {
            throw KubeError(.manifest, "\(source) (line \(node.mark.line)): an object needs apiVersion and kind")
        }
        if kind.hasSuffix("List"), let items = node["items"]?.sequence {
            for (i, item) in items.enumerated() { try collect(item, source: "\(source) item \(i + 1)", into: &objects) }
            return
        }
        guard let name = node["metadata"]?["name"]?.scalar?.value, !name.isEmpty else {
            throw KubeError(.manifest, "\(source) (line \(node.mark.line)): \(kind) has no metadata.name")
        }
        objects.append(KubeObject(apiVersion: apiVersion, kind: kind, name: name, namespace: node["metadata"]?["namespace"]?.scalar?.value,
                                  source: source, node: node))
    }

    /// The object as JSON, with `namespace` set when given (a namespaced object without one). Plain
    /// scalars resolve as Kubernetes resolves them (YAML 1.1: `0644` is 420), not as YAML 1.2 would.
    public func json(namespace: String? = nil) -> Data {
        guard let namespace, self.namespace == nil else { return Data(JSONText.encode(node, rules: .kubernetes).utf8) }
        let pairs = (node.mapping ?? []).map { pair -> (String, YAMLNode) in
            let key = pair.key.scalar?.value ?? ""
            guard key == "metadata", let meta = pair.value.mapping else { return (key, pair.value) }
            return (key, .mapping(meta.map { ($0.key.scalar?.value ?? "", $0.value) } + [("namespace", .string(namespace))]))
        }
        return Data(JSONText.encode(.mapping(pairs), rules: .kubernetes).utf8)
    }
}
