/// A file Parvester writes onto a node: where, what, and with which mode.
public struct RenderedFile: Sendable, Equatable {
    /// The largest file rendered for a node (1 MiB): more means a template or alias loop went wrong.
    public static let maximumSize = 1 << 20

    public var path: String
    public var content: String
    public var mode: Int
    /// True when the content includes a secret (the token): never print it, write it 0600.
    public var holdsSecret: Bool

    public init(path: String, content: String, mode: Int, holdsSecret: Bool) {
        self.path = path
        self.content = content
        self.mode = mode
        self.holdsSecret = holdsSecret
    }
}
