import Foundation

/// The fields that differ between two versions of an object, one line each (`spec.running: false → true`),
/// for a plan to show what an apply would change. Compares the objects without the server's
/// bookkeeping and status (see `KubeApplier.content`).
public enum FieldDiff {
    /// At most this many lines per object; the rest is counted.
    public static let limit = 12

    public static func lines(old: Data?, new: Data?) -> [String] {
        let before = old.flatMap { try? JSONSerialization.jsonObject(with: $0) }
        let after = new.flatMap { try? JSONSerialization.jsonObject(with: $0) }
        var out: [String] = []
        compare(before, after, path: "", into: &out)
        if out.count > limit { return Array(out.prefix(limit)) + ["… and \(out.count - limit) more fields"] }
        return out
    }

    private static func compare(_ old: Any?, _ new: Any?, path: String, into out: inout [String]) {
        switch (old, new) {
        case (let a as [String: Any], let b as [String: Any]):
            for key in Set(a.keys).union(b.keys).sorted() {
                compare(a[key], b[key], path: path.isEmpty ? key : "\(path).\(key)", into: &out)
            }
        case (let a as [Any], let b as [Any]) where a.count == b.count:
            for index in a.indices { compare(a[index], b[index], path: "\(path)[\(index)]", into: &out) }
        default:
            let (a, b) = (text(old), text(new))
            if a != b { out.append("\(path): \(a) → \(b)") }
        }
    }

    private static func text(_ value: Any?) -> String {
        guard let value, !(value is NSNull) else { return "(none)" }
        if let string = value as? String { return "\"\(string)\"" }
        if let number = value as? NSNumber {
            // JSON booleans arrive as NSNumbers of type "c" (char).
            return String(cString: number.objCType) == "c" ? (number.boolValue ? "true" : "false") : number.stringValue
        }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) else { return "\(value)" }
        let json = String(decoding: data, as: UTF8.self)
        return json.count > 80 ? String(json.prefix(77)) + "…" : json
    }
}
