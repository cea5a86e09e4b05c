extension String {
    /// The string as it may appear in a message: quoted, control characters escaped (so input can never
    /// drive the terminal), and cut to `QuotedText.limit` characters so a huge value cannot flood stderr.
    public var quoted: String {
        guard count > QuotedText.limit else { return debugDescription }
        let kept = String(prefix(QuotedText.limit))
        return String(kept.debugDescription.dropLast()) + "…\" (\(utf8.count) bytes)"
    }
}

public enum QuotedText {
    /// Characters of a value kept when it is quoted in a message.
    public static let limit = 80

    /// The first control character (Unicode category Cc: C0, DEL and C1) in a text, if any. Escape
    /// sequences hidden in a URL or name would set the terminal title or clear the screen when printed.
    public static func controlCharacter(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { $0.properties.generalCategory == .control }
    }

    /// "U+001B" for a scalar, the way messages name an invisible character.
    public static func name(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
