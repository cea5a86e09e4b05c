import YAML

/// What an RKE2 cluster token may hold, checked the same way inline and in a token file. Printable ASCII
/// only: a zero-width space or a stray control character pasted into a token makes joins fail with
/// "token mismatch" on the nodes, long after the inventory was read.
enum ClusterToken {
    /// The largest token file read: tokens are under a hundred bytes.
    static let maximumFileSize = 64 * 1024

    /// Why a token is unusable, never quoting it (it is a secret); nil when fine.
    static func problem(_ token: String) -> String? {
        if token.isEmpty { return "is empty" }
        if let bad = token.unicodeScalars.first(where: { !(0x21...0x7E).contains($0.value) }) {
            let what = bad.properties.isWhitespace ? "white space" : bad.value < 0x80 ? "a control character" : "the non-ASCII character"
            return "holds \(what) (\(QuotedText.name(bad))); a token is printable ASCII without spaces"
        }
        return nil
    }

    /// A token file's text without the line break editors add at its end.
    static func read(_ path: String) throws -> String {
        let bytes = try LocalFileReader.contents(of: path, limit: maximumFileSize, what: "token file")
        var text = String(decoding: bytes, as: UTF8.self)
        while let last = text.unicodeScalars.last, last == "\n" || last == "\r" { text.unicodeScalars.removeLast() }
        return text
    }
}
