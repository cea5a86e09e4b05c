/// A plain scalar as Kubernetes reads it in a manifest. kubectl and the API server turn YAML into JSON
/// with sigs.k8s.io/yaml, whose reader is go-yaml v2: YAML 1.1 booleans and nulls, integers through Go's
/// `strconv.ParseInt(s, 0, 64)` once `_` is removed (so `0644` is octal, `0o644`, `0x1F` and `0b101` are
/// read too), then `strconv.ParseFloat`. No sexagesimal numbers (go-yaml never read them), and
/// timestamps stay strings when decoded untyped, as manifests are.
enum KubernetesScalar {
    /// The JSON text of the scalar, or nil for a string.
    static func json(_ text: String) -> String? {
        if ScalarResolver.isNull(text) { return "null" }
        if let bool = ScalarResolver.bool(text) { return bool ? "true" : "false" }
        // go-yaml v2 tries numbers only for scalars that start like one.
        guard let first = text.unicodeScalars.first, "+-.0123456789".unicodeScalars.contains(first) else { return nil }
        if ["+.inf", "-.inf", ".inf", ".Inf", ".INF", "+.Inf", "+.INF", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"].contains(text) {
            return nil  // go-yaml reads these as floats, which JSON cannot hold: the server would refuse them either way
        }
        let digits = String(text.filter { $0 != "_" })
        if let int = goParseInt(digits) { return String(int) }
        if let double = goParseFloat(digits), double.isFinite {
            if double == double.rounded(), abs(double) < 1e21 { return String(Int64(double)) }  // as Go's encoding/json
            return String(double)
        }
        return nil
    }

    /// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`, `0o`, `0b` or a leading `0` (octal).
    static func goParseInt(_ text: String) -> Int64? {
        var rest = Substring(text)
        var negative = false
        if let sign = rest.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        var radix = 10
        let lower = rest.lowercased()
        if lower.hasPrefix("0x") { radix = 16; rest = rest.dropFirst(2) }
        else if lower.hasPrefix("0o") { radix = 8; rest = rest.dropFirst(2) }
        else if lower.hasPrefix("0b") { radix = 2; rest = rest.dropFirst(2) }
        else if rest.count > 1, rest.first == "0" { radix = 8; rest = rest.dropFirst() }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isHexDigit }), let magnitude = UInt64(rest, radix: radix) else { return nil }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    /// Go's `strconv.ParseFloat(s, 64)` for decimal forms (`1.5`, `.5`, `1e3`, `-2.`).
    static func goParseFloat(_ text: String) -> Double? {
        guard text.wholeMatch(of: /[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?/) != nil else { return nil }
        return Double(text)
    }
}
