/// Writes a node tree as compact JSON, in mapping order. Plain scalars become numbers, booleans or
/// null where YAML 1.2 reads them so; everything else becomes a string.
public enum JSONText {
    public static func encode(_ node: YAMLNode) -> String {
        switch node.content {
        case .sequence(let items):
            return "[" + items.map(encode).joined(separator: ",") + "]"
        case .mapping(let pairs):
            return "{" + pairs.map { quote($0.key.scalar?.value ?? "") + ":" + encode($0.value) }.joined(separator: ",") + "}"
        case .scalar(let scalar):
            guard node.tag == nil, scalar.style == .plain else { return quote(scalar.value) }
            switch ScalarResolver.kind12(scalar.value) {
            case .null: return "null"
            case .bool: return scalar.value.lowercased()
            case .int: return Int(scalar.value).map(String.init) ?? quote(scalar.value)
            case .float:
                guard let value = Double(scalar.value), value.isFinite else { return quote(scalar.value) }
                return String(value)
            default: return quote(scalar.value)
            }
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
