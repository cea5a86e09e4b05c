/// A short, normalised description of a valid inventory, for `validate` (text and JSON).
public struct InventorySummary: Sendable, Encodable {
    public struct NodeLine: Sendable, Encodable {
        public var name: String
        public var address: String
        public var role: String
        public var initializesCluster: Bool
        public var uplink: String?
        public var ssh: String
    }

    public var file: String
    public var cluster: String
    public var address: String
    public var tlsSANs: [String]
    public var rke2Version: String
    public var install: String
    public var token: String
    public var nodes: [NodeLine]
    public var bridge: String
    public var components: [String]
    public var networks: [String]
    public var images: [String]
    public var vms: [String]

    public init(_ inventory: Inventory) {
        file = inventory.file
        cluster = inventory.cluster.name
        address = inventory.cluster.address
        tlsSANs = inventory.cluster.tlsSANs
        rke2Version = inventory.cluster.version
        install = inventory.cluster.install.summary
        switch inventory.cluster.token {
        case .inline: token = "given in the inventory"
        case .file(let path): token = "read from \(path)"
        case .generated: token = "generated on the first run, kept locally"
        }
        nodes = inventory.nodes.map { node in
            NodeLine(name: node.name, address: node.address, role: node.role.rawValue, initializesCluster: node.initializesCluster,
                     uplink: node.uplink,
                     ssh: "\(node.ssh.user)@\(node.address):\(node.ssh.port)\(node.ssh.become ? " with sudo" : "")")
        }
        bridge = inventory.bridge.name + (inventory.bridge.allowSSHInterface ? " (may take the SSH interface)" : "")
        components = inventory.components.map { "\($0.kind.title) \($0.version)\($0.enabled ? "" : " (disabled)")" }
        networks = inventory.networks.map { "\($0.namespace)/\($0.name) on \($0.bridge)\($0.vlan.map { ", VLAN \($0)" } ?? "")" }
        images = inventory.images.map { image in
            let source: String
            switch image.source {
            case .url: source = "from URL"
            case .file: source = "uploaded from a local file"
            case .blank: source = "blank"
            }
            return "\(image.namespace)/\(image.name) (\(image.size), \(source))"
        }
        vms = inventory.vms.map { vm in
            "\(vm.namespace)/\(vm.name) (\(vm.cpuCores) \(vm.cpuCores == 1 ? "core" : "cores"), \(vm.memory), image \(vm.image)\(vm.running ? "" : ", stopped"))"
        }
    }
}
