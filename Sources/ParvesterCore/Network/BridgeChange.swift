import SSH

/// What making the bridge through a node's network stack takes: the files to write and remove, the
/// command that applies them, and the one that applies the configuration restored from the backup.
/// `current` when the node already has them.
struct BridgeChange: Sendable {
    var stack: NetworkStack
    var files: [RenderedFile] = []
    var removals: [String] = []
    /// Run detached (it may cut the SSH session): makes the new configuration live.
    var apply: String
    /// Run by the rollback, after the old files are back.
    var restore: String
    /// The addresses that move from the uplink to the bridge (nil: the uplink's stay where they are).
    var moved: AddressConfig?
    var current: Bool

    /// The paths whose old content the rollback must bring back (or remove, if they did not exist).
    var touched: [String] { files.map(\.path) + removals }
}

/// Renders a `BridgeChange` for the stack that owns the uplink.
struct BridgeChangeRenderer {
    let bridge: String
    let uplink: String
    let moveAddresses: Bool
    let facts: NodeFacts

    func change(_ stack: NetworkStack) throws -> BridgeChange? {
        switch stack {
        case .none: return nil
        case .networkd: return try NetworkdBridge(renderer: self).change()
        case .netplan: return try NetplanBridge(renderer: self).change()
        case .ifupdown: return try IfupdownBridge(renderer: self).change()
        case .networkManager: return try NetworkManagerBridge(renderer: self).change()
        }
    }

    var mac: String? { facts.macAddresses[uplink] }

    /// Whether the node's files already hold what `files` would write, and `removals` are gone.
    func onNode(_ files: [RenderedFile], removals: [String] = []) -> Bool {
        files.allSatisfy { facts.networkFile($0.path) == $0.content }
            && removals.allSatisfy { facts.networkFile($0) == nil }
    }

    /// What a DHCP bridge needs to keep the uplink's lease: the uplink's MAC (the DHCP server hands out
    /// by MAC, or by a client identifier derived from it).
    func requireMAC() throws -> String {
        guard let mac else { throw HostRefused("\(uplink) has no MAC address to give \(bridge), and its DHCP lease depends on it") }
        return mac
    }
}

/// Parvester's refusal to move addresses where it cannot know them.
func nothingToMove(_ uplink: String, _ stack: NetworkStack) -> HostRefused {
    HostRefused("bridge.moveAddresses: \(uplink) has no addresses in its \(stack.rawValue) configuration to move; leave moveAddresses out for an uplink that carries nothing")
}
