/// A composed YAML node: aliases are already replaced by the nodes they name, mapping order is kept,
/// and every node remembers where it started in the source.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        case scalar(Scalar)
        case sequence([YAMLNode])
        case mapping([Pair])
    }

    public struct Pair: Sendable {
        public var key: YAMLNode
        public var value: YAMLNode
        public init(key: YAMLNode, value: YAMLNode) {
            self.key = key
            self.value = value
        }
    }

    public var content: Content
    public var mark: Mark
    /// The explicit tag, fully expanded (`tag:yaml.org,2002:str` for `!!str`, `!json` for a local tag); nil when untagged.
    public var tag: String?

    public init(_ content: Content, mark: Mark = .none, tag: String? = nil) {
        self.content = content
        self.mark = mark
        self.tag = tag
    }
}

public enum ScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

public struct Scalar: Sendable, Hashable {
    public var value: String
    public var style: ScalarStyle

    public init(_ value: String, style: ScalarStyle) {
        self.value = value
        self.style = style
    }
}

public enum Tag {
    public static let str = "tag:yaml.org,2002:str"
    public static let int = "tag:yaml.org,2002:int"
    public static let float = "tag:yaml.org,2002:float"
    public static let bool = "tag:yaml.org,2002:bool"
    public static let null = "tag:yaml.org,2002:null"
    public static let map = "tag:yaml.org,2002:map"
    public static let seq = "tag:yaml.org,2002:seq"
    public static let merge = "tag:yaml.org,2002:merge"
    /// The non-specific tag `!` that quoted scalars carry: always a string.
    public static let nonSpecific = "!"
}

// MARK: - Building nodes in code

extension YAMLNode {
    /// A string node. The emitter quotes it where a YAML 1.1 or 1.2 reader would take it for something else.
    public static func string(_ value: String, mark: Mark = .none) -> YAMLNode {
        YAMLNode(.scalar(Scalar(value, style: value.contains("\n") ? .literal : .doubleQuoted)), mark: mark, tag: Tag.str)
    }

    public static func int(_ value: Int, mark: Mark = .none) -> YAMLNode {
        YAMLNode(.scalar(Scalar(String(value), style: .plain)), mark: mark)
    }

    public static func bool(_ value: Bool, mark: Mark = .none) -> YAMLNode {
        YAMLNode(.scalar(Scalar(value ? "true" : "false", style: .plain)), mark: mark)
    }

    public static let null = YAMLNode(.scalar(Scalar("null", style: .plain)))

    public static func sequence(_ items: [YAMLNode], mark: Mark = .none) -> YAMLNode {
        YAMLNode(.sequence(items), mark: mark)
    }

    public static func mapping(_ pairs: [(String, YAMLNode)], mark: Mark = .none) -> YAMLNode {
        YAMLNode(.mapping(pairs.map { Pair(key: .string($0.0), value: $0.1) }), mark: mark)
    }
}

// MARK: - Reading nodes

extension YAMLNode {
    public var scalar: Scalar? {
        if case .scalar(let s) = content { return s }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = content { return items }
        return nil
    }

    public var mapping: [Pair]? {
        if case .mapping(let pairs) = content { return pairs }
        return nil
    }

    /// True for `~`, `null`, an empty plain scalar, or an explicit `!!null`.
    public var isNull: Bool {
        guard let s = scalar else { return false }
        if tag == Tag.null { return true }
        return tag == nil && s.style == .plain && ScalarResolver.isNull(s.value)
    }

    /// The value under a string key of a mapping.
    public subscript(key: String) -> YAMLNode? {
        mapping?.first { $0.key.scalar?.value == key }?.value
    }

    /// The node at a path, or nil when the path leaves the tree.
    public func node(at path: YAMLPath) -> YAMLNode? {
        var current = self
        for component in path.components {
            switch component {
            case .key(let k):
                guard let next = current[k] else { return nil }
                current = next
            case .index(let i):
                guard let items = current.sequence, items.indices.contains(i) else { return nil }
                current = items[i]
            }
        }
        return current
    }

    /// The mark of the key node that introduces the last component of `path`, when it is a key.
    public func keyMark(at path: YAMLPath) -> Mark? {
        guard case .key(let k)? = path.components.last,
              let parent = node(at: YAMLPath(Array(path.components.dropLast()))) else { return nil }
        return parent.mapping?.first { $0.key.scalar?.value == k }?.key.mark
    }

    /// The best position for a message about `path`: the node itself, else the nearest ancestor that exists.
    public func closestMark(to path: YAMLPath) -> Mark {
        var components = path.components
        while true {
            if let n = node(at: YAMLPath(components)), n.mark.isKnown { return n.mark }
            if components.isEmpty { return mark }
            components.removeLast()
        }
    }

    /// Node kind in words, for messages: "a mapping", "a sequence", "null", "the string \"x\"".
    /// How many nodes this tree holds, each alias counted as the nodes it repeats (what it expands to
    /// when emitted). Stops counting past `limit`.
    public func expandedCount(limit: Int = .max) -> Int {
        var count = 0
        var stack = [self]
        while let node = stack.popLast(), count <= limit {
            count += 1
            switch node.content {
            case .scalar: break
            case .sequence(let items): stack += items
            case .mapping(let pairs): for pair in pairs { stack.append(pair.key); stack.append(pair.value) }
            }
        }
        return count
    }

    public var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let s):
            if isNull { return "null" }
            return s.value.quoted
        }
    }

    /// Structural equality of content and tags, ignoring positions and presentation styles of
    /// scalars that resolve the same.
    public func sameContent(as other: YAMLNode) -> Bool {
        switch (content, other.content) {
        case (.scalar(let a), .scalar(let b)):
            return a.value == b.value && ScalarResolver.resolve(self) == ScalarResolver.resolve(other)
        case (.sequence(let a), .sequence(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.sameContent(as: $1) }
        case (.mapping(let a), .mapping(let b)):
            return a.count == b.count
                && zip(a, b).allSatisfy { $0.key.sameContent(as: $1.key) && $0.value.sameContent(as: $1.value) }
        default:
            return false
        }
    }
}
