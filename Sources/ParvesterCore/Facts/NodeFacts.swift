/// What gathering facts learnt about one node: enough for every later phase to decide, without asking
/// again, whether it has work there.
public struct NodeFacts: Sendable {
    public struct Link: Sendable, Equatable {
        public var name: String
        public var up: Bool
        public var master: String?
        public var isBridge: Bool
        public var addresses: [String]
    }

    public var os: String = ""
    public var arch: String = ""
    /// `rke2 --version`'s version, or nil when RKE2 is not installed.
    public var rke2Version: String?
    /// systemctl is-active / is-enabled per unit.
    public var active: [String: String] = [:]
    public var enabled: [String: String] = [:]
    /// sha256 of each managed file that exists.
    public var fileHashes: [String: String] = [:]
    public var hasNodeToken = false
    /// The agent's kubelet client certificate: RKE2 writes it when an agent joins, so the node belongs to a
    /// cluster even while its service is stopped.
    public var agentJoined = false
    static let agentJoinedPath = "/var/lib/rancher/rke2/agent/client-kubelet.crt"
    /// The initial server's node-token, read by the same probe (nil elsewhere).
    public var nodeToken: Secret?
    public var links: [String: Link] = [:]
    /// The address the SSH session arrived at (from SSH_CONNECTION).
    public var sshAddress: String?
    /// `virt-host-validate qemu` lines, or nil when the tool is absent.
    public var virtHostValidate: [String]?

    // What the host checks read (`HostChecks`).
    public var hostname: String?
    /// The node's clock (Unix seconds) when the probe ran, and where this machine's clock stood:
    /// `clockOffset` is the node's minus the middle of the round trip, within ± `clockUncertainty`.
    public var clock: Double?
    public var clockOffset: Double?
    public var clockUncertainty: Double = 0
    /// The directory where RKE2's data goes (or its nearest existing parent) and its free bytes.
    public var diskFree: (path: String, bytes: Int64?)?
    /// Kernel module → loaded, available or missing.
    public var modules: [String: String] = [:]
    /// Dotted sysctl name → value.
    public var sysctls: [String: String] = [:]
    public var swapDevices: Int?
    public var cgroupVersion: Int?
    /// NetworkManager's `unmanaged-devices=` values from its configuration files.
    public var networkManagerUnmanaged: [String] = []

    // What owns the interfaces' configuration (`NetworkStack`).
    public var macAddresses: [String: String] = [:]
    /// netplan, ifupdown and systemd-networkd files, in the order the probe listed them (sorted by name
    /// within each directory, as the tools read them).
    public var networkFiles: [(path: String, content: String)] = []
    /// NetworkManager's devices (device → state, connection) when it runs.
    public var networkManagerDevices: [String: (state: String, connection: String)] = [:]
    /// A network change armed for rollback and not confirmed (`NetworkTransaction`): its pending line.
    public var networkPending: String?
    /// ifupdown's bridge_ports support (the bridge-utils package's hooks).
    public var ifupdownBridgeSupport = false

    public func networkFile(_ path: String) -> String? { networkFiles.first { $0.path == path }?.content }

    public func link(carrying address: String) -> Link? {
        links.values.first { $0.addresses.contains(address) }
    }

    public func isActive(_ unit: String) -> Bool { active[unit] == "active" }

    /// RKE2 runs here now.
    public var runsRKE2: Bool { FactsProbe.units.contains { isActive($0) } }

    /// RKE2 is installed and holds a cluster's data (a server's node-token, an agent's kubelet client
    /// certificate): the node joined a cluster, even while its service is stopped (an interrupted roll, a
    /// crash, a restart under way).
    public func holdsClusterData(as role: NodeRole) -> Bool {
        rke2Version != nil && (role == .server ? hasNodeToken : agentJoined)
    }
}
