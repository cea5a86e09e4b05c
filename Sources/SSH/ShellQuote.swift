/// Quoting for remote shell command lines. Every value from an inventory reaches a remote shell only
/// through these, so `$(touch /tmp/pwned); x` stays an argument and never runs.
public enum ShellQuote {
    /// One word for a POSIX shell: bare when it is plainly safe, otherwise in single quotes.
    public static func quote(_ word: String) -> String {
        if !word.isEmpty, word.unicodeScalars.allSatisfy({ $0.isASCII && (safe.contains($0) || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }) {
            return word
        }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A command line from an argument vector, each argument quoted.
    public static func command(_ arguments: [String]) -> String {
        arguments.map(quote).joined(separator: " ")
    }

    private static let safe: Set<Unicode.Scalar> = ["_", "-", ".", "/", "=", ":", "@", "%", "+", ","]
}
