import Foundation
import YAML

/// The bridge under netplan: `bridges:` in a file of Parvester's own (90-parvester-BRIDGE.yaml), the
/// uplink as its interface. When the addresses move, the file that defines the uplink is rewritten with
/// them taken out (`dhcp4: false`, `dhcp6: false`), and they go to the bridge, with the uplink's MAC for
/// DHCP; the old file is in the rollback's backup. `netplan apply` makes it live.
struct NetplanBridge {
    let renderer: BridgeChangeRenderer

    /// The keys that hold addresses, moved from the uplink to the bridge.
    static let addressKeys: Set<String> = ["addresses", "dhcp4", "dhcp6", "gateway4", "gateway6", "routes", "nameservers", "dhcp4-overrides", "dhcp6-overrides", "accept-ra"]

    func change() throws -> BridgeChange {
        let r = renderer
        var bridge: [(String, YAMLNode)] = [("interfaces", .sequence([.string(r.uplink)]))]
        var files: [RenderedFile] = []
        var moved: AddressConfig?
        if r.moveAddresses {
            guard let file = r.facts.networkFiles.first(where: { $0.path.hasPrefix("/etc/netplan/") && NetplanFile.ethernets($0.content)?.contains(r.uplink) == true }),
                  let root = NetplanFile.root(file.content), let entry = root.value(at: ["network", "ethernets", r.uplink]),
                  let config = NetplanFile.addressConfig(file.content, interface: r.uplink) else { throw nothingToMove(r.uplink, .netplan) }
            let moving = (entry.mapping ?? []).filter { Self.addressKeys.contains($0.key.scalar?.value ?? "") }
            if moving.isEmpty || config.isEmpty {
                // Moved by an earlier run: the bridge's entry in Parvester's file holds them now.
                guard let ours = r.facts.networkFile(path), let previous = NetplanFile.root(ours)?.value(at: ["network", "bridges", r.bridge]) else {
                    throw nothingToMove(r.uplink, .netplan)
                }
                return BridgeChange(stack: .netplan, apply: "netplan apply", restore: "ip addr flush dev \(r.bridge) 2>/dev/null; netplan apply",
                                    moved: NetplanFile.addressConfig(previous), current: previous.value(at: ["interfaces"])?.sequence?.contains { $0.scalar?.value == r.uplink } == true)
            } else {
                moved = config
                bridge += moving.compactMap { pair in pair.key.scalar.map { ($0.value, pair.value) } }
                if config.usesDHCP { bridge.append(("macaddress", .string(try r.requireMAC()))) }
                let kept = (entry.mapping ?? []).filter { !Self.addressKeys.contains($0.key.scalar?.value ?? "") }
                    + [.init(key: .string("dhcp4"), value: .bool(false)), .init(key: .string("dhcp6"), value: .bool(false))]
                let rewritten = replacing(root, path: ["network", "ethernets", r.uplink], with: YAMLNode(.mapping(kept)))
                let text = "# Rewritten by Parvester: \(r.uplink)'s addresses moved to the bridge \(r.bridge) (\(path)).\n" + (try YAMLEmitter.emit(rewritten))
                files.append(RenderedFile(path: file.path, content: text, mode: 0o600, holdsSecret: false))
            }
        } else {
            bridge += [("dhcp4", .bool(false)), ("dhcp6", .bool(false))]
        }
        if !bridge.contains(where: { $0.0 == "parameters" }) {
            bridge.append(("parameters", .mapping([("stp", .bool(false)), ("forward-delay", .int(0))])))
        }
        let ours = "# Written by Parvester: the VM bridge \(r.bridge) with its uplink \(r.uplink).\n"
            + (try emit(["network": [("version", .int(2)), ("bridges", .mapping([(r.bridge, .mapping(bridge))]))]]))
        // netplan refuses world-readable files (they may hold Wi-Fi keys): 0600, as `netplan set` writes.
        files.insert(RenderedFile(path: path, content: ours, mode: 0o600, holdsSecret: false), at: 0)
        return BridgeChange(stack: .netplan, files: files, apply: "netplan apply",
                            restore: (moved != nil ? "ip addr flush dev \(r.bridge) 2>/dev/null; " : "") + "netplan apply",
                            moved: moved, current: r.onNode(files))
    }

    var path: String { "/etc/netplan/90-parvester-\(renderer.bridge).yaml" }

    private func emit(_ top: [String: [(String, YAMLNode)]]) throws -> String {
        try YAMLEmitter.emit(.mapping(top.map { ($0.key, YAMLNode.mapping($0.value)) }))
    }

    private func replacing(_ node: YAMLNode, path: [String], with value: YAMLNode) -> YAMLNode {
        guard let key = path.first, let pairs = node.mapping else { return value }
        return YAMLNode(.mapping(pairs.map { pair in
            pair.key.scalar?.value == key ? .init(key: pair.key, value: replacing(pair.value, path: Array(path.dropFirst()), with: value)) : pair
        }))
    }
}
