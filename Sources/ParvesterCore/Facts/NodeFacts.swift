/// What gathering facts learnt about one node: enough for every later phase to decide, without asking
/// again, whether it has work there.
public struct NodeFacts: Sendable, Equatable {
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

    public func link(carrying address: String) -> Link? {
        links.values.first { $0.addresses.contains(address) }
    }

    public func isActive(_ unit: String) -> Bool { active[unit] == "active" }
}
