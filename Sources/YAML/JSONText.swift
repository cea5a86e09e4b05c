/// Writes a node tree as compact JSON, in mapping order. Plain scalars become numbers, booleans or
/// null where the chosen rules read them so; everything else becomes a string.
public enum JSONText {
    /// How plain scalars resolve.
    public enum Rules: Sendable {
        /// The YAML 1.2 core schema: `true`/`false`, decimal, `0o` octal and `0x` hex numbers.
        case yaml12
        /// What Kubernetes and kubectl read manifests with (sigs.k8s.io/yaml, which is go-yaml v2, a
        /// YAML 1.1 reader): `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0644` is octal 420, `0o644`,
        /// `0x1F` and `0b101` are numbers, `_` separates digits, timestamps stay strings.
        case kubernetes
    }

    public static func encode(_ node: YAMLNode, rules: Rules = .yaml12) -> String {
        switch node.content {
        case .sequence(let items):
            return "[" + items.map { encode($0, rules: rules) }.joined(separator: ",") + "]"
        case .mapping(let pairs):
            return "{" + pairs.map { quote($0.key.scalar?.value ?? "") + ":" + encode($0.value, rules: rules) }.joined(separator: ",") + "}"
        case .scalar(let scalar):
            guard node.tag == nil, scalar.style == .plain else { return quote(scalar.value) }
            switch rules {
            case .yaml12: return yaml12(scalar.value)
            case .kubernetes: return KubernetesScalar.json(scalar.value) ?? quote(scalar.value)
            }
        }
    }

    private static func yaml12(_ text: String) -> String {
        switch ScalarResolver.kind12(text) {
        case .null: return "null"
        case .bool: return text.lowercased()
        case .int: return Int(text).map(String.init) ?? quote(text)
        case .float:
            guard let value = Double(text), value.isFinite else { return quote(text) }
            return String(value)
        default: return quote(text)
        }
    }

    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
