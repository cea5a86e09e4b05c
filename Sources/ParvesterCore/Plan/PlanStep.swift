/// One step of `up`, as `plan` shows it: what runs, on which nodes or objects, and how.
public struct PlanStep: Sendable, Encodable, Equatable {
    /// A stable identifier (`install-rke2`), for scripts reading `--output json`.
    public var phase: String
    public var title: String
    /// Node names for node work; component or object names for cluster work.
    public var targets: [String]
    /// How the targets are worked on, where it matters ("one at a time").
    public var note: String?

    public init(phase: String, title: String, targets: [String], note: String? = nil) {
        self.phase = phase
        self.title = title
        self.targets = targets
        self.note = note
    }
}
