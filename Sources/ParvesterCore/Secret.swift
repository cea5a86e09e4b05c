/// A value that must never reach logs or output: printing it shows only that it is there.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The value itself, for the one place that writes it into a file pushed to a node.
    public let revealed: String

    public init(_ value: String) { revealed = value }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
}
