import Foundation

/// The parts of an OpenSSH client config (`~/.ssh/config`) Parvester honours: `Host` blocks with
/// patterns (`*`, `?`, `!negation`), and `HostName`, `User`, `Port`, `IdentityFile`, `ProxyJump`.
/// As in OpenSSH, the first value found for a keyword wins. Other keywords are ignored.
public struct SSHConfigFile: Sendable {
    public struct Settings: Sendable, Equatable {
        public var hostName: String?
        public var user: String?
        public var port: Int?
        public var identityFiles: [String] = []
        public var proxyJump: String?

        public init() {}
    }

    private struct Block: Sendable {
        var patterns: [String]
        var options: [(key: String, value: String)]
    }

    private let blocks: [Block]

    public init(text: String) {
        var blocks = [Block(patterns: ["*"], options: [])]  // options before any Host line apply to all
        for rawLine in text.components(separatedBy: .newlines) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let (key, value) = Self.split(line)
            if key == "host" {
                blocks.append(Block(patterns: value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init), options: []))
            } else if key == "match" {
                blocks.append(Block(patterns: [], options: []))  // Match blocks are not supported: never apply
            } else {
                blocks[blocks.count - 1].options.append((key, value))
            }
        }
        self.blocks = blocks
    }

    /// `~/.ssh/config`, or nil when there is none.
    public static func userConfig() -> SSHConfigFile? {
        let path = ProcessInfo.processInfo.environment["PARVESTER_SSH_CONFIG"] ?? UserHome.path + "/.ssh/config"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return SSHConfigFile(text: String(decoding: data, as: UTF8.self))
    }

    /// `Keyword value`, `Keyword=value` or `Keyword "quoted value"`; keywords are case-insensitive.
    private static func split(_ line: String) -> (String, String) {
        guard let separator = line.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "=" }) else { return (line.lowercased(), "") }
        let key = line[..<separator].lowercased()
        var value = line[line.index(after: separator)...].trimmingCharacters(in: CharacterSet(charactersIn: " \t="))
        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
        return (key, value)
    }

    public func settings(for alias: String) -> Settings {
        var settings = Settings()
        for block in blocks where Self.matches(alias, block.patterns) {
            for (key, value) in block.options {
                switch key {
                case "hostname" where settings.hostName == nil: settings.hostName = value.replacingOccurrences(of: "%h", with: alias)
                case "user" where settings.user == nil: settings.user = value
                case "port" where settings.port == nil: settings.port = Int(value)
                case "identityfile": settings.identityFiles.append(Self.expand(value, alias: alias))
                case "proxyjump" where settings.proxyJump == nil: settings.proxyJump = value
                default: break
                }
            }
        }
        return settings
    }

    private static func expand(_ path: String, alias: String) -> String {
        var path = path.replacingOccurrences(of: "%d", with: UserHome.path).replacingOccurrences(of: "%h", with: alias)
        if path.hasPrefix("~/") { path = UserHome.path + path.dropFirst() }
        return path
    }

    /// OpenSSH semantics: a negated pattern that matches excludes the block outright.
    static func matches(_ host: String, _ patterns: [String]) -> Bool {
        var matched = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if glob(String(pattern.dropFirst()), host) { return false }
            } else if glob(pattern, host) {
                matched = true
            }
        }
        return matched
    }

    static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.lowercased()), t = Array(text.lowercased())
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] { pi += 1; ti += 1 }
            else if pi < p.count, p[pi] == "*" { star = pi; mark = ti; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; ti = mark }
            else { return false }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// A jump host as `ProxyJump` writes it: `[user@]host[:port]`.
public struct JumpHost: Sendable, Equatable {
    public var user: String?
    public var host: String
    public var port: Int?

    public init(user: String?, host: String, port: Int?) {
        self.user = user
        self.host = host
        self.port = port
    }

    /// nil for `none`; throws for several hops, which Parvester does not chain.
    public static func parse(_ text: String) throws -> JumpHost? {
        if text.lowercased() == "none" { return nil }
        if text.contains(",") {
            throw SSHError(.configuration, endpoint: text, "ProxyJump with several hops is not supported; use one jump host")
        }
        var rest = Substring(text)
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        var port: Int?
        if rest.hasPrefix("[") , let close = rest.firstIndex(of: "]") {
            let host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) }
            return JumpHost(user: user, host: host, port: port)
        }
        if let colon = rest.lastIndex(of: ":"), rest.filter({ $0 == ":" }).count == 1 {
            port = Int(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        return JumpHost(user: user, host: String(rest), port: port)
    }
}
