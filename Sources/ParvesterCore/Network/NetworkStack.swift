import Foundation
import YAML

/// What configures a node's interface at boot, and so must own its bridge: a bridge made beside it (the
/// oneshot unit) is undone by it. Under systemd-networkd, for one, the uplink's `.network` file is
/// applied again at every boot and takes the port out of the bridge (`br0: port 1(eth1) entered
/// disabled state`) while the oneshot unit reports success.
public enum NetworkStack: String, Sendable, CaseIterable {
    case netplan
    case networkManager = "NetworkManager"
    case ifupdown
    case networkd = "systemd-networkd"
    /// Nothing configures the interface: the oneshot unit makes the bridge at boot.
    case none

    /// Which stack configures `interface` on a node, from its facts. netplan comes first: on systems
    /// that have it, it writes networkd's or NetworkManager's configuration at boot from its own files.
    static func owner(of interface: String, _ facts: NodeFacts) -> NetworkStack {
        for file in facts.networkFiles where file.path.hasPrefix("/etc/netplan/") {
            if NetplanFile.ethernets(file.content)?.contains(interface) == true { return .netplan }
        }
        if facts.isActive("NetworkManager"), let device = facts.networkManagerDevices[interface],
           device.state.hasPrefix("connected"), !device.connection.isEmpty, !device.connection.hasPrefix(NetworkManagerBridge.prefix) {
            return .networkManager
        }
        if !IfupdownFile.stanzas(facts, interface: interface).isEmpty { return .ifupdown }
        if facts.isActive("systemd-networkd"), NetworkdFile.matching(interface, facts, skippingOurs: true) != nil { return .networkd }
        return .none
    }
}

/// How the uplink's addresses are configured, in the terms every stack shares, so that they can move to
/// the bridge: static addresses (CIDR), the gateways, DNS servers and search domains, or DHCP.
public struct AddressConfig: Sendable, Equatable {
    public var addresses: [String] = []
    public var gateway4: String?
    public var gateway6: String?
    public var dns: [String] = []
    public var searchDomains: [String] = []
    public var dhcp4 = false
    public var dhcp6 = false

    public var isEmpty: Bool { addresses.isEmpty && !dhcp4 && !dhcp6 }
    public var usesDHCP: Bool { dhcp4 || dhcp6 }
}

/// netplan's YAML, read with libyaml.
enum NetplanFile {
    static func root(_ content: String) -> YAMLNode? {
        (try? YAMLParser.parse(content, file: "netplan")) ?? nil
    }

    static func ethernets(_ content: String) -> [String]? {
        root(content)?.value(at: ["network", "ethernets"])?.mapping?.compactMap { $0.key.scalar?.value }
    }

    /// The uplink's address settings in a netplan file's `ethernets:` entry.
    static func addressConfig(_ content: String, interface: String) -> AddressConfig? {
        root(content)?.value(at: ["network", "ethernets", interface]).map(addressConfig)
    }

    /// The address settings of one interface's (or bridge's) entry.
    static func addressConfig(_ entry: YAMLNode) -> AddressConfig {
        var config = AddressConfig()
        config.addresses = entry.value(at: ["addresses"])?.sequence?.compactMap { $0.scalar?.value } ?? []
        config.dhcp4 = entry.value(at: ["dhcp4"])?.scalar.map { ["true", "yes", "on"].contains($0.value.lowercased()) } ?? false
        config.dhcp6 = entry.value(at: ["dhcp6"])?.scalar.map { ["true", "yes", "on"].contains($0.value.lowercased()) } ?? false
        config.gateway4 = entry.value(at: ["gateway4"])?.scalar?.value
        config.gateway6 = entry.value(at: ["gateway6"])?.scalar?.value
        for route in entry.value(at: ["routes"])?.sequence ?? [] {
            guard let to = route.value(at: ["to"])?.scalar?.value, let via = route.value(at: ["via"])?.scalar?.value else { continue }
            if ["default", "0.0.0.0/0"].contains(to) { config.gateway4 = via } else if to == "::/0" { config.gateway6 = via }
        }
        config.dns = entry.value(at: ["nameservers", "addresses"])?.sequence?.compactMap { $0.scalar?.value } ?? []
        config.searchDomains = entry.value(at: ["nameservers", "search"])?.sequence?.compactMap { $0.scalar?.value } ?? []
        return config
    }
}

extension YAMLNode {
    /// The node at a path of mapping keys, or nil.
    func value(at path: [String]) -> YAMLNode? {
        var node: YAMLNode? = self
        for key in path { node = node?.mapping?.first { $0.key.scalar?.value == key }?.value }
        return node
    }
}

/// ifupdown's /etc/network/interfaces and /etc/network/interfaces.d: stanzas of `iface NAME FAMILY
/// METHOD` followed by indented options (interfaces(5)).
enum IfupdownFile {
    struct Stanza: Equatable {
        var path: String
        var family: String
        var method: String
        var options: [(key: String, value: String)]
        static func == (a: Stanza, b: Stanza) -> Bool { a.path == b.path && a.family == b.family && a.method == b.method }
    }

    static func isIfupdown(_ path: String) -> Bool { path == "/etc/network/interfaces" || path.hasPrefix("/etc/network/interfaces.d/") }

    static func stanzas(_ facts: NodeFacts, interface: String) -> [Stanza] {
        facts.networkFiles.filter { isIfupdown($0.path) }.flatMap { stanzas($0.content, path: $0.path, interface: interface) }
    }

    static func stanzas(_ content: String, path: String, interface: String) -> [Stanza] {
        var found: [Stanza] = []
        var current: Stanza?
        for raw in content.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if ["iface", "auto", "allow-hotplug", "source", "source-directory", "mapping"].contains(words[0]) || raw.first?.isWhitespace == false {
                if let stanza = current { found.append(stanza) }
                current = nil
                if words[0] == "iface", words.count >= 4, words[1] == interface {
                    current = Stanza(path: path, family: words[2], method: words[3], options: [])
                }
                continue
            }
            if current != nil, words.count >= 1 {
                current!.options.append((words[0], words.dropFirst().joined(separator: " ")))
            }
        }
        if let stanza = current { found.append(stanza) }
        return found
    }

    static func addressConfig(_ stanzas: [Stanza]) -> AddressConfig {
        var config = AddressConfig()
        for stanza in stanzas {
            let options = Dictionary(stanza.options.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            switch (stanza.family, stanza.method) {
            case ("inet", "dhcp"): config.dhcp4 = true
            case ("inet6", "dhcp"), ("inet6", "auto"): config.dhcp6 = true
            case (let family, "static"):
                if var address = options["address"] {
                    if !address.contains("/"), let mask = options["netmask"] { address += "/" + (prefixLength(mask) ?? mask) }
                    config.addresses.append(address)
                }
                if let gateway = options["gateway"] { if family == "inet6" { config.gateway6 = gateway } else { config.gateway4 = gateway } }
            default: break
            }
            config.dns += (options["dns-nameservers"] ?? "").split(separator: " ").map(String.init)
            config.searchDomains += (options["dns-search"] ?? "").split(separator: " ").map(String.init)
        }
        return config
    }

    /// 255.255.0.0 → "16"; a number is already a prefix length.
    static func prefixLength(_ mask: String) -> String? {
        if Int(mask) != nil { return mask }
        let octets = mask.split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        return String(octets.reduce(0) { $0 + $1.nonzeroBitCount })
    }
}

/// systemd-networkd's `.network` files: INI sections; the first file in name order whose [Match]
/// matches an interface configures it (systemd.network(5)).
enum NetworkdFile {
    static func sections(_ content: String) -> [(name: String, entries: [(key: String, value: String)])] {
        var sections: [(name: String, entries: [(key: String, value: String)])] = []
        for raw in content.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") { sections.append((String(line.dropFirst().dropLast()), [])); continue }
            guard let equals = line.firstIndex(of: "="), !sections.isEmpty else { continue }
            sections[sections.count - 1].entries.append((line[..<equals].trimmingCharacters(in: .whitespaces),
                                                         line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
        }
        return sections
    }

    static func values(_ content: String, _ section: String, _ key: String) -> [String] {
        sections(content).filter { $0.name == section }.flatMap { $0.entries.filter { $0.key == key }.flatMap { $0.value.split(separator: " ").map(String.init) } }
    }

    /// The `.network` file that configures `interface` (by [Match] Name=, with shell globs), first by name.
    static func matching(_ interface: String, _ facts: NodeFacts, skippingOurs: Bool) -> (path: String, content: String)? {
        facts.networkFiles.filter { $0.path.hasSuffix(".network") && $0.path.hasPrefix("/etc/systemd/network/") }
            .filter { !skippingOurs || !($0.path as NSString).lastPathComponent.hasPrefix(NetworkdBridge.prefix) }
            .sorted { ($0.path as NSString).lastPathComponent < ($1.path as NSString).lastPathComponent }
            .first { file in values(file.content, "Match", "Name").contains { fnmatch($0, interface, 0) == 0 } }
    }

    static func addressConfig(_ content: String) -> AddressConfig {
        var config = AddressConfig()
        config.addresses = values(content, "Network", "Address") + values(content, "Address", "Address")
        for gateway in values(content, "Network", "Gateway") + values(content, "Route", "Gateway") {
            if gateway.contains(":") { config.gateway6 = gateway } else { config.gateway4 = gateway }
        }
        config.dns = values(content, "Network", "DNS")
        config.searchDomains = values(content, "Network", "Domains")
        let dhcp = values(content, "Network", "DHCP").first?.lowercased() ?? "no"
        config.dhcp4 = ["yes", "true", "ipv4"].contains(dhcp)
        config.dhcp6 = ["yes", "true", "ipv6"].contains(dhcp)
        return config
    }
}
