import Foundation

/// What one phase did on one node (or to the cluster).
public enum StepOutcome: String, Sendable, Encodable {
    /// Something was written, installed, started or created.
    case changed
    /// Already as wanted: nothing was done.
    case unchanged
    /// Done, with nothing that could have changed (connecting, gathering facts, waiting).
    case ok
    case failed
    /// Not attempted, because something it depends on failed.
    case skipped
    /// A plan's answer for a check that only `up` itself can settle (the CNI plugins that arrive with
    /// RKE2 on a new node): it will be checked after the install.
    case deferred
}

public struct StepRecord: Sendable, Encodable {
    public var phase: String
    /// A node name, or `cluster` for cluster-wide work.
    public var target: String
    public var outcome: StepOutcome
    public var seconds: Double
    /// What changed, or why it failed or was skipped.
    public var detail: String?
}
