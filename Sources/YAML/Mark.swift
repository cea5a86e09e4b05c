/// A position in a YAML source, 1-based as editors show it. `Mark.none` marks nodes built in code.
public struct Mark: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static let none = Mark(line: 0, column: 0)
    public var isKnown: Bool { line > 0 }
    public var description: String { "\(line):\(column)" }

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// Where a value sits in a document, rendered the way users write it: `nodes[1].ssh.port`.
public struct YAMLPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public static let root = YAMLPath()
    public var isEmpty: Bool { components.isEmpty }

    public func appending(_ key: String) -> YAMLPath { YAMLPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> YAMLPath { YAMLPath(components + [.index(index)]) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .index(let i):
                text += "[\(i)]"
            case .key(let k):
                if k.isPlainIdentifier {
                    text += text.isEmpty ? k : ".\(k)"
                } else {
                    text += "[\(k.quoted)]"
                }
            }
        }
        return text
    }
}

extension String {
    fileprivate var isPlainIdentifier: Bool {
        guard let first = unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        return unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
    }
}
