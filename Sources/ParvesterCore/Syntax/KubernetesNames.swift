/// Kubernetes' own syntax rules for names, labels, taints and quantities (apimachinery's validation).
public enum KubernetesNames {
    /// A DNS-1123 label: lower-case letters, digits and inner hyphens, at most 63 characters.
    public static func labelProblem(_ text: String, what: String = "name") -> String? {
        if text.isEmpty { return "\(what) cannot be empty" }
        if text.utf8.count > 63 { return "\(what) \(text.quoted) is longer than 63 characters" }
        let allowed = text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        if !allowed || text.hasPrefix("-") || text.hasSuffix("-") {
            return "\(what) \(text.quoted) must be lower-case letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label)"
        }
        return nil
    }

    /// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
    public static func subdomainProblem(_ text: String, what: String) -> String? {
        if text.isEmpty { return "\(what) cannot be empty" }
        if text.utf8.count > 253 { return "\(what) \(text.quoted) is longer than 253 characters" }
        let ok = text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { labelProblem(String($0)) == nil }
        return ok ? nil : "\(what) \(text.quoted) must be lower-case letters, digits, '-' and '.' (a DNS-1123 subdomain)"
    }

    /// A label key: optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
    public static func labelKeyProblem(_ key: String) -> String? {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, subdomainProblem(String(parts[0]), what: "label prefix") != nil {
            return "label key \(key.quoted) has an invalid prefix (a DNS subdomain such as example.com)"
        }
        let name = String(parts.last!)
        if !isQualifiedNamePart(name) {
            return "label key \(key.quoted) must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        }
        return nil
    }

    public static func labelValueProblem(_ value: String) -> String? {
        if value.isEmpty || isQualifiedNamePart(value) { return nil }
        return "label value \(value.quoted) must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    }

    private static func isQualifiedNamePart(_ text: String) -> Bool {
        guard (1...63).contains(text.utf8.count) else { return false }
        let scalars = Array(text.unicodeScalars)
        func alnum(_ s: Unicode.Scalar) -> Bool { s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s)) }
        return alnum(scalars.first!) && alnum(scalars.last!)
            && scalars.allSatisfy { alnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    public static let taintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"]

    /// RKE2's `node-taint` form: `key[=value]:Effect`.
    public static func taintProblem(_ taint: String) -> String? {
        let format = "taint \(taint.quoted) must look like key=value:Effect"
        guard let colon = taint.lastIndex(of: ":") else { return format }
        let effect = String(taint[taint.index(after: colon)...])
        let keyValue = taint[..<colon]
        guard taintEffects.contains(effect) else {
            return "taint \(taint.quoted) has effect \(effect.quoted); expected one of \(taintEffects.joined(separator: ", "))"
        }
        let parts = keyValue.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        if let problem = labelKeyProblem(String(parts[0])) { return "\(format): \(problem)" }
        if parts.count == 2, let problem = labelValueProblem(String(parts[1])) { return "\(format): \(problem)" }
        return nil
    }

    private static let quantitySuffixes = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E", ""]

    /// The bytes of a quantity `quantityProblem` accepted.
    public static func quantityBytes(_ text: String) -> Int64 {
        let factors: [String: Double] = ["Ki": 0x1p10, "Mi": 0x1p20, "Gi": 0x1p30, "Ti": 0x1p40, "Pi": 0x1p50, "Ei": 0x1p60,
                                         "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "": 1]
        let suffix = quantitySuffixes.first { text.hasSuffix($0) } ?? ""
        return Int64(min((Double(text.dropLast(suffix.count)) ?? 0) * (factors[suffix] ?? 1), Double(Int64.max / 2)))
    }

    /// A positive Kubernetes quantity with a binary or decimal suffix, such as `10Gi` or `1024M`.
    public static func quantityProblem(_ text: String, what: String) -> String? {
        let example = "\(what) \(text.quoted) is not a size such as 10Gi or 1024M"
        guard let suffix = quantitySuffixes.first(where: { text.hasSuffix($0) }) else { return example }
        let number = text.dropLast(suffix.count)
        let pieces = number.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(pieces.count), pieces.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            return example
        }
        if Double(number) == 0 { return "\(what) must be larger than zero" }
        return nil
    }
}
