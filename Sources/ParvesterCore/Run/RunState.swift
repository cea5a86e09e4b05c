import Kube

/// What a run learnt and did on one node, shared by the phases after it.
public struct NodeState: Sendable {
    /// Read by gather-facts; nil until then, or when the node could not be probed.
    public var facts: NodeFacts?
    /// push-config wrote a file the running service has not read yet: start phases restart it.
    public var configChanged = false
    /// install-rke2 put another version in place.
    public var versionChanged = false
    /// The node is a member of the cluster already (its Node exists, or RKE2 runs): version changes and
    /// restarts reach it through the roll, not through install and start.
    public var inCluster = false
    /// The RKE2 version the node runs: its Node's kubeletVersion, else the installed binary's.
    public var runningVersion: String?
    /// Its Node carries a roll's marks (its cordon, the VMs it stopped): an interrupted roll left them.
    public var cordonedByRoll = false
    /// Why the node dropped out of the run (phase: message); later phases skip it.
    public var failure: String?
}

/// What a run knows about the cluster as a whole once the initial server is up.
public struct ClusterState: Sendable {
    public var token: Secret?
    public var kubeconfig: Kubeconfig?
    public var kube: KubeHTTPClient?
    public var discovery: KubeDiscovery?
    /// sha256 of the rke2.yaml downloaded in this run (see `KubeconfigSource`).
    public var kubeconfigSourceHash: String?
    /// The nodes a removal takes out (remove, `up --prune`), set once the API has been read.
    public var removals: [RemovalTarget] = []
    /// Nodes left dirty: removed from the cluster, but not cleaned (they did not answer).
    public var leftDirty: [String] = []
    /// The snapshot `snapshot restore` restores: on the initial server, or (node "local") in the state directory.
    public var restoreSource: RemoteSnapshot?
    /// RKE2's certificates on the servers and when they expire (`certs check`).
    public var certificates: [CertificateExpiry] = []
    /// The etcd snapshots found on the servers (`snapshot list`).
    public var remoteSnapshots: [RemoteSnapshot] = []
    /// The Nodes as label-nodes read them (one LIST serves it and stray-nodes).
    public var liveNodes: [KubeNodeInfo]?
}

/// How one step of a phase ended, as the phase sees it: the node goes on, drops out, or the run stops.
public enum StepResult: Sendable {
    case done
    case nodeFailed(String)
    case aborted(RunAbort)

    public var succeeded: Bool { if case .done = self { true } else { false } }

    /// Stops the phase (and the run) when the step asked for it.
    public func abortIfAsked() throws {
        if case .aborted(let abort) = self { throw abort }
    }
}
