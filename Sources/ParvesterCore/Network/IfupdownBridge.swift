/// The bridge under ifupdown: a stanza file of Parvester's own in /etc/network/interfaces.d
/// (`iface BRIDGE inet ...` with `bridge_ports UPLINK`, which the bridge-utils hooks act on). When the
/// addresses move, the uplink's own stanzas become `inet manual` (their address options go to the
/// bridge's stanza, with `hwaddress` for DHCP), in the file that holds them.
struct IfupdownBridge {
    let renderer: BridgeChangeRenderer
    static let addressOptions: Set<String> = ["address", "netmask", "gateway", "broadcast", "network", "dns-nameservers", "dns-search", "pointopoint", "scope", "hwaddress"]

    var path: String { "/etc/network/interfaces.d/parvester-\(renderer.bridge)" }

    func change() throws -> BridgeChange {
        let r = renderer
        guard r.facts.ifupdownBridgeSupport else {
            throw HostRefused("ifupdown manages \(r.uplink), but the node lacks bridge support for it (/etc/network/if-pre-up.d/bridge): apt install bridge-utils, then run up again")
        }
        let stanzas = IfupdownFile.stanzas(r.facts, interface: r.uplink)
        var lines = ["# Written by Parvester: the VM bridge \(r.bridge) with its uplink \(r.uplink).", "auto \(r.bridge)"]
        var files: [RenderedFile] = []
        var moved: AddressConfig?
        let bridgeOptions = ["    bridge_ports \(r.uplink)", "    bridge_stp off", "    bridge_fd 0"]
        let addressed = stanzas.filter { $0.method != "manual" && $0.method != "loopback" }
        if r.moveAddresses && !addressed.isEmpty {
            let config = IfupdownFile.addressConfig(addressed)
            moved = config
            for stanza in addressed {
                lines.append("iface \(r.bridge) \(stanza.family) \(stanza.method)")
                lines += stanza.options.filter { Self.addressOptions.contains($0.key) }.map { "    \($0.key) \($0.value)" }
                if stanza.method == "dhcp" && !stanza.options.contains(where: { $0.key == "hwaddress" }) { lines.append("    hwaddress ether \(try r.requireMAC())") }
                lines += bridgeOptions
            }
            for holder in Set(addressed.map(\.path)).sorted() {
                guard let content = r.facts.networkFile(holder) else { continue }
                files.append(RenderedFile(path: holder, content: manualUplink(content), mode: 0o644, holdsSecret: false))
            }
        } else if r.moveAddresses {
            // Moved by an earlier run: the bridge's own stanzas hold the addresses.
            let ours = IfupdownFile.stanzas(r.facts.networkFile(path) ?? "", path: path, interface: r.bridge)
            guard !ours.isEmpty else { throw nothingToMove(r.uplink, .ifupdown) }
            moved = IfupdownFile.addressConfig(ours)
            let current = r.facts.networkFile(path).map { !$0.isEmpty } ?? false
            return BridgeChange(stack: .ifupdown, apply: apply, restore: restore(moved: true), moved: moved, current: current)
        } else {
            lines.append("iface \(r.bridge) inet manual")
            lines += bridgeOptions
        }
        files.insert(RenderedFile(path: path, content: lines.joined(separator: "\n") + "\n", mode: 0o644, holdsSecret: false), at: 0)
        // interfaces.d is read only through a `source` line; Debian's default file has one.
        if let main = r.facts.networkFile("/etc/network/interfaces"), !main.split(separator: "\n").contains(where: { $0.hasPrefix("source /etc/network/interfaces.d/") || $0.hasPrefix("source-directory /etc/network/interfaces.d") }) {
            let base = files.first { $0.path == "/etc/network/interfaces" }?.content ?? main
            files.removeAll { $0.path == "/etc/network/interfaces" }
            files.append(RenderedFile(path: "/etc/network/interfaces", content: base + "\nsource /etc/network/interfaces.d/parvester-*\n", mode: 0o644, holdsSecret: false))
        }
        return BridgeChange(stack: .ifupdown, files: files, apply: apply, restore: restore(moved: moved != nil), moved: moved, current: r.onNode(files))
    }

    /// The uplink leaves ifupdown's state before its stanza changes under it, then both come up.
    var apply: String {
        let r = renderer
        return "ifdown --force \(r.uplink) 2>/dev/null; ip addr flush dev \(r.uplink); ifup \(r.uplink) && ifup \(r.bridge)"
    }

    func restore(moved: Bool) -> String {
        let r = renderer
        return "ifdown --force \(r.bridge) 2>/dev/null; " + (moved ? "ip addr flush dev \(r.bridge) 2>/dev/null; " : "") + "ifdown --force \(r.uplink) 2>/dev/null; ifup \(r.uplink)"
    }

    /// The file with the uplink's stanzas made `inet manual`, their address options dropped.
    func manualUplink(_ content: String) -> String {
        var out: [String] = []
        var inUplink = false
        for raw in content.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let words = raw.trimmingCharacters(in: .whitespaces).split(separator: " ").map(String.init)
            if raw.first?.isWhitespace == false || raw.isEmpty {
                inUplink = words.count >= 4 && words[0] == "iface" && words[1] == renderer.uplink
                if inUplink && !["manual", "loopback"].contains(words[3]) {
                    out.append("iface \(renderer.uplink) \(words[2]) manual  # Parvester: its addresses are on \(renderer.bridge)")
                    continue
                }
            } else if inUplink, let key = words.first, Self.addressOptions.contains(key) {
                continue
            }
            out.append(raw)
        }
        return out.joined(separator: "\n")
    }
}
