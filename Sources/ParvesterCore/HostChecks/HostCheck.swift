/// RKE2's host prerequisites that `validate-hosts` checks on every node, before anything is installed.
/// Each has a name the inventory uses (`cluster.hostChecks: {swap: fail, ports: warn}`) to make it
/// stricter, softer (`warn`: reported, the run goes on) or to turn it off (`skip`).
public enum HostCheck: String, CaseIterable, Sendable, Hashable {
    /// The ports RKE2 needs between nodes, tried from node to node.
    case ports
    /// firewalld or ufw running (RKE2's docs: they conflict with its CNI); nftables rules that drop.
    case firewall
    /// NetworkManager managing the CNI's interfaces (cali*, flannel*).
    case networkManager
    /// Two nodes with one host name.
    case hostname
    /// Clocks apart by more than `maximumClockSkew`.
    case clock
    /// Less free space under /var/lib/rancher than `cluster.minFreeDisk`.
    case disk
    /// br_netfilter or overlay neither loaded nor installed.
    case kernelModules
    /// The sysctls RKE2's CIS profile refuses to start without.
    case sysctls
    /// Swap on (RKE2 runs the kubelet with --fail-swap-on=false, so a warning by default).
    case swap
    /// cgroup v1 only (Kubernetes 1.35's kubelet refuses it unless told otherwise).
    case cgroup

    /// What a finding does unless the inventory says otherwise.
    public var defaultLevel: CheckLevel {
        switch self {
        // Parvester sets every node's node-name from the inventory, so RKE2's names stay unique; the
        // same host name on two machines still confuses logs, SSH and people.
        case .hostname, .swap: .warn
        default: .fail
        }
    }

    public static let maximumClockSkew = 5.0
    public static let defaultMinFreeDisk: Int64 = 10 << 30
}

/// One thing a check found on a node: what, and the exact fix.
public struct HostFinding: Sendable, Equatable {
    public var check: HostCheck
    public var finding: String
    public var fix: String

    public init(_ check: HostCheck, _ finding: String, fix: String) {
        self.check = check
        self.finding = finding
        self.fix = fix
    }

    public var text: String { "\(check.rawValue): \(finding); fix: \(fix)" }
}
