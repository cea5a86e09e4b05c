import SSH

/// The bridge under NetworkManager: a bridge connection and a port connection for the uplink, made with
/// nmcli (NetworkManager keeps them in its own keyfiles). When the addresses move, the bridge takes the
/// uplink connection's IPv4 and IPv6 settings, read on the node when the change runs, and the uplink's
/// MAC for DHCP; the old connection stops autoconnecting, so the port wins at boot. The rollback deletes
/// Parvester's two connections and brings the old one back up.
struct NetworkManagerBridge {
    static let prefix = "parvester-"
    let renderer: BridgeChangeRenderer

    var bridgeConnection: String { Self.prefix + renderer.bridge }
    var portConnection: String { Self.prefix + renderer.bridge + "-port" }

    func change() throws -> BridgeChange {
        let r = renderer
        let devices = r.facts.networkManagerDevices
        let current = devices[r.uplink]?.connection == portConnection && devices[r.bridge]?.state.hasPrefix("connected") == true
        // The uplink's connection before Parvester's port took it (when current, the rollback has nothing to restore).
        let old = current ? nil : devices[r.uplink]?.connection
        let q = ShellQuote.quote
        var add = "nmcli connection add type bridge ifname \(q(r.bridge)) con-name \(q(bridgeConnection)) bridge.stp no"
        if r.moveAddresses {
            guard let old else {
                if current { return BridgeChange(stack: .networkManager, apply: ":", restore: restore(nil), moved: AddressConfig(), current: true) }
                throw nothingToMove(r.uplink, .networkManager)
            }
            // Read from the old connection on the node, so that nothing of it passes through this machine.
            add = """
                s() { nmcli -g "$1" connection show \(q(old)); }
                m4=$(s ipv4.method); m6=$(s ipv6.method)
                \(add) ipv4.method "$m4" ipv4.addresses "$(s ipv4.addresses | sed 's/ | /,/g')" ipv4.gateway "$(s ipv4.gateway)" ipv4.dns "$(s ipv4.dns | sed 's/ | /,/g')" \\
                  ipv6.method "$m6" ipv6.addresses "$(s ipv6.addresses | sed 's/ | /,/g')" ipv6.gateway "$(s ipv6.gateway)" \\
                  $( [ "$m4" = auto ] || [ "$m6" = auto ] || [ "$m6" = dhcp ] && echo bridge.mac-address \(q(try r.requireMAC())) )
                """
        } else {
            add += " ipv4.method disabled ipv6.method ignore"
        }
        let apply = """
            nmcli connection delete \(q(portConnection)) \(q(bridgeConnection)) >/dev/null 2>&1
            \(add)
            nmcli connection add type ethernet slave-type bridge master \(q(r.bridge)) ifname \(q(r.uplink)) con-name \(q(portConnection)) connection.autoconnect-priority 100
            \(old.map { "nmcli connection modify \(q($0)) connection.autoconnect no" } ?? ":")
            nmcli connection up \(q(portConnection)) && nmcli connection up \(q(bridgeConnection))
            """
        return BridgeChange(stack: .networkManager, apply: apply, restore: restore(old), moved: r.moveAddresses ? AddressConfig() : nil, current: current)
    }

    func restore(_ old: String?) -> String {
        let q = ShellQuote.quote
        return "nmcli connection delete \(q(portConnection)) \(q(bridgeConnection)) >/dev/null 2>&1; "
            + (old.map { "nmcli connection modify \(q($0)) connection.autoconnect yes; nmcli connection up \(q($0))" } ?? ":")
    }
}
