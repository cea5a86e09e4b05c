/// One step of an action (the k0sctl pattern): a small type that says whether it has work, what it
/// would do (the dry run `plan` shows) and does it. Per-node failures are recorded through the
/// context and the node drops out of later phases; a phase throws `RunAbort` only when nothing after
/// it can proceed.
public protocol Phase: Sendable {
    var id: String { get }
    var title: String { get }
    /// What the phase works on, from the inventory alone: node names for node work, object names for
    /// cluster work. A phase with no targets has nothing to do and is left out of runs and plans.
    func targets(_ context: RunContext) -> [String]
    /// How the targets are worked on, where it matters ("one at a time").
    func note(_ context: RunContext) -> String?
    /// Whether the phase has work in this run (the inventory, the facts, the mode).
    func shouldRun(_ context: RunContext) -> Bool
    /// The dry run: records what `run` would change, changing nothing.
    func describe(_ context: RunContext) async throws
    func run(_ context: RunContext) async throws
}

/// A phase that changes nothing (connecting, reading facts, checking): a plan runs it as it is.
public protocol ReadOnlyPhase: Phase {}

extension Phase {
    public func targets(_ context: RunContext) -> [String] { context.inventory.nodes.map(\.name) }
    public func note(_ context: RunContext) -> String? { nil }
    public func shouldRun(_ context: RunContext) -> Bool { !targets(context).isEmpty }
    /// Phases that only wait or coordinate have nothing to show in a plan.
    public func describe(_ context: RunContext) async throws {}

    /// The phase as `plan --from-inventory` lists it.
    func outline(_ context: RunContext) -> PlanStep {
        PlanStep(phase: id, title: title, targets: targets(context), note: note(context))
    }
}

extension ReadOnlyPhase {
    public func describe(_ context: RunContext) async throws { try await run(context) }
}

/// A phase that only makes sense when changing the cluster (the lock, waiting for readiness).
protocol ApplyOnlyPhase: Phase {}

extension ApplyOnlyPhase {
    public func shouldRun(_ context: RunContext) -> Bool { !context.planning && !targets(context).isEmpty }
}

/// Stops the run: the rest depends on what just failed (the initial server, the lock, ...).
public struct RunAbort: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
