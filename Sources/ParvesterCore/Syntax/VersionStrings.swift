/// Release version spellings: RKE2's `v1.28.11+rke2r1`, and `v1.1.1` for the components.
public enum VersionStrings {
    nonisolated(unsafe) private static let rke2 = try! Regex(#"^v[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?\+rke2r[0-9]+$"#)
    nonisolated(unsafe) private static let release = try! Regex(#"^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"#)

    public static func rke2Problem(_ text: String) -> String? {
        text.wholeMatch(of: rke2) != nil ? nil
            : "RKE2 version \(text.quoted) is not of the form v1.28.11+rke2r1 (see the RKE2 releases page)"
    }

    public static func releaseProblem(_ text: String) -> String? {
        text.wholeMatch(of: release) != nil ? nil : "version \(text.quoted) is not of the form v1.2.3"
    }

    /// http(s) URLs with a host; file:// for local copies where `allowFile` says so.
    public static func urlProblem(_ text: String, allowFile: Bool = false) -> String? {
        let lower = text.lowercased()
        if allowFile, lower.hasPrefix("file:///") { return nil }
        for scheme in ["https://", "http://"] where lower.hasPrefix(scheme) {
            let rest = text.dropFirst(scheme.count)
            let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            if !host.isEmpty, !text.contains(where: { $0.isWhitespace }) { return nil }
        }
        return "\(text.quoted) is not an http(s) URL\(allowFile ? " or file:/// path" : "")"
    }
}
