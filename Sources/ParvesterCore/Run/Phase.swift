/// One step of `up` (the k0sctl pattern): a small type with an identifier, a title, and its work.
/// Per-node failures are recorded through the context and the node drops out of later phases; a
/// phase throws `RunAbort` only when nothing after it can proceed.
public protocol Phase: Sendable {
    var id: String { get }
    var title: String { get }
    func run(_ context: RunContext) async throws
}

/// Stops the run: the rest depends on what just failed (the initial server, the lock, ...).
public struct RunAbort: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
