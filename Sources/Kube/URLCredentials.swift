/// Credentials written into URLs (`https://user:token@mirror/...`) are secrets like any other: every
/// text meant for output passes through here, which leaves `https://***@mirror/...`.
public enum URLCredentials {
    public static func redacted(in text: String) -> String {
        guard text.contains("@"), text.contains("://") else { return text }
        return text.replacing(/([A-Za-z][A-Za-z0-9+.\-]*:\/\/)[^\/\s@"']+@/) { "\($0.output.1)***@" }
    }
}
