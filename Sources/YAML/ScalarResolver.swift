/// What a scalar means once resolved. YAML 1.1 (what RKE2's and kubectl's Go readers follow) and
/// YAML 1.2 disagree on words such as `on`, `no`, `0644` and `1e3`; Parvester decodes by the type it
/// expects, and when it writes files it quotes anything either version would not read back as a string.
public enum ScalarKind: Sendable, Hashable {
    case null, bool, int, float, timestamp, merge, string
}

public enum ScalarResolver {
    // YAML 1.1 forms, as in the 1.1 type repository and go-yaml v2 / PyYAML.
    private static let nullWords: Set<String> = ["", "~", "null", "Null", "NULL"]
    private static let trueWords: Set<String> = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    private static let falseWords: Set<String> = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]

    nonisolated(unsafe) private static let int11 = try! Regex(
        #"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"#)
    nonisolated(unsafe) private static let int12 = try! Regex(#"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"#)
    nonisolated(unsafe) private static let float11 = try! Regex(
        #"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"#)
    nonisolated(unsafe) private static let float12 = try! Regex(
        #"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"#)
    nonisolated(unsafe) private static let timestamp = try! Regex(
        #"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$"#)
    nonisolated(unsafe) private static let dottedNumbers = try! Regex(#"^[0-9]+(?:\.[0-9]+){2,}$"#)

    public static func isNull(_ text: String) -> Bool { nullWords.contains(text) }

    /// The boolean a plain scalar spells, in any YAML 1.1 form (`yes`, `on`, `true`, ...).
    public static func bool(_ text: String) -> Bool? {
        if trueWords.contains(text) { return true }
        if falseWords.contains(text) { return false }
        return nil
    }

    /// How a plain scalar resolves when read by a YAML 1.1 reader such as RKE2's.
    public static func kind11(_ text: String) -> ScalarKind {
        if isNull(text) { return .null }
        if bool(text) != nil { return .bool }
        if text.wholeMatch(of: int11) != nil { return .int }
        if text.wholeMatch(of: float11) != nil { return .float }
        if text.wholeMatch(of: timestamp) != nil { return .timestamp }
        if text == "<<" { return .merge }
        return .string
    }

    /// How a plain scalar resolves under the YAML 1.2 core schema.
    public static func kind12(_ text: String) -> ScalarKind {
        if isNull(text) { return .null }
        if ["true", "True", "TRUE", "false", "False", "FALSE"].contains(text) { return .bool }
        if text.wholeMatch(of: int12) != nil { return .int }
        if text.wholeMatch(of: float12) != nil { return .float }
        return .string
    }

    /// The kind of a node's scalar, honouring explicit tags; plain scalars resolve as YAML 1.1 does.
    public static func resolve(_ node: YAMLNode) -> ScalarKind {
        guard let s = node.scalar else { return .string }
        switch node.tag {
        case Tag.str?, Tag.nonSpecific?: return .string
        case Tag.int?: return .int
        case Tag.float?: return .float
        case Tag.bool?: return .bool
        case Tag.null?: return .null
        case nil: return s.style == .plain ? kind11(s.value) : .string
        default: return .string
        }
    }

    /// True when `text`, written as a plain scalar, reads back as exactly this string under both
    /// YAML 1.1 and 1.2. Deliberately conservative: anything doubtful gets quoted.
    public static func isSafePlainString(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        if kind11(text) != .string || kind12(text) != .string || text == "=" { return false }
        if first.properties.isWhitespace || last.properties.isWhitespace { return false }
        if "-?:,[]{}#&*!|>'\"%@`".unicodeScalars.contains(first) { return false }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0.value > 0x7e }) { return false }
        if text.contains(": ") || text.contains(" #") || text.hasSuffix(":") { return false }
        // A leading digit, sign or dot flirts with some reader's number syntax; only dotted quads and
        // longer (addresses, versions) are certainly strings everywhere.
        if "0123456789+.".unicodeScalars.contains(first) { return text.wholeMatch(of: dottedNumbers) != nil }
        return true
    }
}
