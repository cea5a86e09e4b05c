import Foundation

/// The bridge under systemd-networkd: a `.netdev` for the bridge, a `.network` that makes the uplink its
/// port, and one for the bridge (with the uplink's addresses when they move). Parvester's files are named
/// to sort first, so networkd takes them over the uplink's own file, which is left as it is (and applies
/// again if Parvester's files go).
struct NetworkdBridge {
    static let prefix = "05-parvester-"
    let renderer: BridgeChangeRenderer

    func change() throws -> BridgeChange {
        let r = renderer
        let directory = "/etc/systemd/network/"
        var bridgeNetwork = "[Match]\nName=\(r.bridge)\n\n[Network]\n"
        var netdev = "[NetDev]\nName=\(r.bridge)\nKind=bridge\n"
        var moved: AddressConfig?
        if r.moveAddresses {
            guard let file = NetworkdFile.matching(r.uplink, r.facts, skippingOurs: true) else { throw nothingToMove(r.uplink, .networkd) }
            let config = NetworkdFile.addressConfig(file.content)
            guard !config.isEmpty else { throw nothingToMove(r.uplink, .networkd) }
            moved = config
            if config.usesDHCP { netdev += "MACAddress=\(try r.requireMAC())\n" }
            let dhcp = config.dhcp4 && config.dhcp6 ? "yes" : config.dhcp4 ? "ipv4" : config.dhcp6 ? "ipv6" : nil
            if let dhcp { bridgeNetwork += "DHCP=\(dhcp)\n" }
            bridgeNetwork += config.addresses.map { "Address=\($0)\n" }.joined()
            bridgeNetwork += [config.gateway4, config.gateway6].compactMap { $0 }.map { "Gateway=\($0)\n" }.joined()
            bridgeNetwork += config.dns.map { "DNS=\($0)\n" }.joined()
            if !config.searchDomains.isEmpty { bridgeNetwork += "Domains=\(config.searchDomains.joined(separator: " "))\n" }
        } else {
            // An uplink that carries nothing: the bridge is up with no address of its own.
            bridgeNetwork += "LinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n"
        }
        let header = "# Written by Parvester: the VM bridge \(r.bridge) with its uplink \(r.uplink).\n"
        let files = [
            RenderedFile(path: directory + Self.prefix + r.bridge + ".netdev", content: header + netdev, mode: 0o644, holdsSecret: false),
            RenderedFile(path: directory + Self.prefix + r.bridge + ".network", content: header + bridgeNetwork, mode: 0o644, holdsSecret: false),
            RenderedFile(path: directory + Self.prefix + r.bridge + "-uplink.network",
                         content: header + "[Match]\nName=\(r.uplink)\n\n[Network]\nBridge=\(r.bridge)\n", mode: 0o644, holdsSecret: false),
        ]
        let reconfigure = "networkctl reload && networkctl reconfigure \(r.uplink) && { networkctl reconfigure \(r.bridge) 2>/dev/null || true; }"
        return BridgeChange(stack: .networkd, files: files, apply: reconfigure,
                            restore: (moved != nil ? "ip addr flush dev \(r.bridge) 2>/dev/null; " : "") + "networkctl reload && networkctl reconfigure \(r.uplink)",
                            moved: moved, current: r.onNode(files))
    }
}
