#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks for the network names an inventory holds: addresses, host names, interface names.
public enum NetworkNames {
    /// Dotted-quad IPv4 without leading zeros (`010.0.0.1` means octal to some tools and decimal to others).
    public static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            guard part == "0" || !part.hasPrefix("0") else { return false }
            return Int(part)! <= 255
        }
    }

    public static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), !text.contains("%") else { return false }
        var storage = in6_addr()
        return inet_pton(AF_INET6, text, &storage) == 1
    }

    public static func isIP(_ text: String) -> Bool { isIPv4(text) || isIPv6(text) }

    /// An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, at most 253 characters.
    public static func isHostname(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        // All-numeric labels are a mistyped IPv4 address, not a name.
        if labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) { return false }
        return labels.allSatisfy { isHostLabel($0) }
    }

    private static func isHostLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
        return label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
    }

    /// One spelling per address, so `2001:DB8:0:0::1` and `2001:db8::1` compare equal: IPv6 as
    /// inet_ntop writes it, host names in lower case without a trailing dot.
    public static func canonicalAddress(_ text: String) -> String {
        if isIPv6(text) {
            var storage = in6_addr()
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if inet_pton(AF_INET6, text, &storage) == 1, inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil {
                return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        var lower = text.lowercased()
        if lower.hasSuffix(".") { lower.removeLast() }
        return lower
    }

    /// The IPv4 address of an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`), if it is one.
    private static func mappedIPv4(_ text: String) -> String? {
        let canonical = canonicalAddress(text)
        guard canonical.hasPrefix("::ffff:"), isIPv4(String(canonical.dropFirst(7))) else { return nil }
        return String(canonical.dropFirst(7))
    }

    /// What a node or cluster address may be; nil when fine, else why not.
    public static func addressProblem(_ text: String) -> String? {
        if isIPv4(text) {
            if text == "0.0.0.0" { return "0.0.0.0 is the unspecified address, not a node's; give the address the node answers on" }
            if text == "255.255.255.255" { return "255.255.255.255 is the broadcast address, not a node's" }
            return nil
        }
        if isIPv6(text) {
            if canonicalAddress(text) == "::" { return "\(text.quoted) is the unspecified address, not a node's; give the address the node answers on" }
            if let v4 = mappedIPv4(text) { return "\(text.quoted) is an IPv4-mapped IPv6 address; write the IPv4 address \(v4)" }
            return nil
        }
        let dotted = text.split(separator: ".", omittingEmptySubsequences: false)
        let fourNumbers = dotted.count == 4 && dotted.allSatisfy { $0.allSatisfy(\.isNumber) }
        var legacy = in_addr()
        if !fourNumbers, inet_aton(text, &legacy) != 0 {
            // inet_aton (and so getaddrinfo) reads 0xa.0.0.1, 0xa000001 and 10.1 as 10.0.0.1: one address,
            // several spellings that would otherwise count as different nodes.
            return "\(text.quoted) is an IPv4 address in a legacy form (hex, octal or fewer than four parts); write it as four decimal numbers such as 10.0.0.1"
        }
        if isHostname(text) { return nil }
        if text.isEmpty { return "an address is required" }
        if fourNumbers {
            return "\(text.quoted) is not a valid IPv4 address (four numbers 0-255, no leading zeros)"
        }
        if text.contains(":") { return "\(text.quoted) is not a valid IPv6 address (write it without brackets or port)" }
        return "\(text.quoted) is neither an IP address nor a valid host name"
    }

    /// Linux interface names: 1-15 bytes, not `.` or `..`, no `/`, `:` or white space (the kernel's
    /// dev_valid_name). Parvester is stricter: letters, digits, '-', '_' and '.', because these names
    /// end up in unit files and commands, and no real NIC needs more.
    public static func interfaceNameProblem(_ text: String) -> String? {
        if text.isEmpty { return "an interface name cannot be empty" }
        if text.utf8.count > 15 { return "interface name \(text.quoted) is longer than 15 characters" }
        if text == "." || text == ".." { return "\(text.quoted) is not a valid interface name" }
        if text.unicodeScalars.contains(where: { $0 == "/" || $0 == ":" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            return "interface name \(text.quoted) may not contain `/`, `:` or white space"
        }
        let allowed = text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
        }
        if !allowed || text.hasPrefix("-") {
            return "interface name \(text.quoted) must be letters, digits, '-', '_' or '.' (not starting with '-')"
        }
        return nil
    }
}
