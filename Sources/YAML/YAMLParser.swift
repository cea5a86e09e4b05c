import CYAML

/// Reads YAML text with libyaml and composes each document into a `YAMLNode` tree.
public enum YAMLParser {
    public struct Options: Sendable {
        /// Apply YAML merge keys (`<<: *defaults`). Templates turn this off to give `<<` their own meaning.
        public var resolveMerges = true
        /// Deeper nesting is refused instead of risking the stack on hostile input.
        public var maxDepth = 200
        /// An alias repeats the node it names; this caps the size a document may expand to ("billion laughs").
        public var maxExpandedNodes = 1_000_000

        public init(resolveMerges: Bool = true) { self.resolveMerges = resolveMerges }
    }

    /// Every document of a stream; an empty stream (or one of only comments) has none.
    public static func parseAll(_ text: String, file: String? = nil, options: Options = Options()) throws -> [YAMLNode] {
        try parseAll(bytes: Array(text.utf8), file: file, options: options)
    }

    public static func parseAll(bytes: [UInt8], file: String? = nil, options: Options = Options()) throws -> [YAMLNode] {
        do {
            return try Composer(bytes: bytes, options: options).composeStream()
        } catch let error as YAMLError {
            throw error.inFile(file)
        }
    }

    /// The one document of `text`; nil when there is none. Several documents are an error.
    public static func parse(_ text: String, file: String? = nil, options: Options = Options()) throws -> YAMLNode? {
        try single(parseAll(text, file: file, options: options), file: file)
    }

    public static func parse(bytes: [UInt8], file: String? = nil, options: Options = Options()) throws -> YAMLNode? {
        try single(parseAll(bytes: bytes, file: file, options: options), file: file)
    }

    private static func single(_ documents: [YAMLNode], file: String?) throws -> YAMLNode? {
        if documents.count > 1 {
            throw YAMLError(.syntax, at: documents[1].mark, file: file,
                            "expected a single document, found \(documents.count); remove the extra `---` sections")
        }
        return documents.first
    }

    /// The libyaml this process runs against.
    public static var libraryVersion: String { String(cString: yaml_get_version_string()) }
}

/// A libyaml event copied into Swift, so the C event can be freed at once.
private enum Event {
    case streamStart, streamEnd, documentStart, documentEnd
    case alias(anchor: String)
    case scalar(anchor: String?, tag: String?, value: String, style: ScalarStyle)
    case sequenceStart(anchor: String?, tag: String?)
    case sequenceEnd
    case mappingStart(anchor: String?, tag: String?)
    case mappingEnd
}

private final class Composer {
    private let bytes: [UInt8]
    private let options: YAMLParser.Options
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]

    init(bytes: [UInt8], options: YAMLParser.Options) {
        self.bytes = bytes
        self.options = options
    }

    func composeStream() throws -> [YAMLNode] {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLError(.limit, at: .none, "libyaml could not allocate a parser")
        }
        defer { yaml_parser_delete(parser) }

        return try bytes.withUnsafeBufferPointer { buffer in
            // libyaml reads the buffer in place; it stays alive for this whole closure.
            yaml_parser_set_input_string(parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, buffer.count)
            var documents: [YAMLNode] = []
            guard case .streamStart = try next(parser).event else {
                throw YAMLError(.syntax, at: Mark(line: 1, column: 1), "not a YAML stream")
            }
            while true {
                let (event, mark) = try next(parser)
                switch event {
                case .streamEnd:
                    return documents
                case .documentStart:
                    anchors = [:]
                    let first = try next(parser)
                    let (root, _) = try compose(first.event, at: first.mark, parser: parser, depth: 0)
                    guard case .documentEnd = try next(parser).event else {
                        throw YAMLError(.syntax, at: mark, "document did not end where expected")
                    }
                    documents.append(root)
                default:
                    throw YAMLError(.syntax, at: mark, "unexpected content between documents")
                }
            }
        }
    }

    /// Builds the node that starts with `event`; returns it with its size once aliases are expanded.
    private func compose(_ event: Event, at mark: Mark, parser: UnsafeMutablePointer<yaml_parser_t>, depth: Int) throws -> (YAMLNode, Int) {
        if depth > options.maxDepth {
            throw YAMLError(.limit, at: mark, "nesting is deeper than \(options.maxDepth) levels")
        }
        let result: (YAMLNode, Int)
        let anchor: String?
        switch event {
        case .alias(let name):
            guard let target = anchors[name] else {
                throw YAMLError(.syntax, at: mark, "alias *\(name) refers to no anchor defined before it")
            }
            return (target.node, target.size)
        case .scalar(let a, let tag, let value, let style):
            anchor = a
            result = (YAMLNode(.scalar(Scalar(value, style: style)), mark: mark, tag: tag), 1)
        case .sequenceStart(let a, let tag):
            anchor = a
            var items: [YAMLNode] = []
            var size = 1
            while true {
                let (child, childMark) = try next(parser)
                if case .sequenceEnd = child { break }
                let (node, childSize) = try compose(child, at: childMark, parser: parser, depth: depth + 1)
                items.append(node)
                size += childSize
                try checkSize(size, at: mark)
            }
            result = (YAMLNode(.sequence(items), mark: mark, tag: tag), size)
        case .mappingStart(let a, let tag):
            anchor = a
            var raw: [YAMLNode.Pair] = []
            var size = 1
            while true {
                let (keyEvent, keyMark) = try next(parser)
                if case .mappingEnd = keyEvent { break }
                let (key, keySize) = try compose(keyEvent, at: keyMark, parser: parser, depth: depth + 1)
                let (valueEvent, valueMark) = try next(parser)
                let (value, valueSize) = try compose(valueEvent, at: valueMark, parser: parser, depth: depth + 1)
                raw.append(YAMLNode.Pair(key: key, value: value))
                size += keySize + valueSize
                try checkSize(size, at: mark)
            }
            result = (YAMLNode(.mapping(try resolveMapping(raw)), mark: mark, tag: tag), size)
        default:
            throw YAMLError(.syntax, at: mark, "unexpected event while reading a node")
        }
        if let anchor { anchors[anchor] = (result.0, result.1) }
        return result
    }

    private func checkSize(_ size: Int, at mark: Mark) throws {
        if size > options.maxExpandedNodes {
            throw YAMLError(.limit, at: mark,
                            "aliases expand this document to more than \(options.maxExpandedNodes) nodes; refusing to read it")
        }
    }

    /// Rejects duplicate keys and applies merge keys; explicit keys win over merged ones.
    private func resolveMapping(_ raw: [YAMLNode.Pair]) throws -> [YAMLNode.Pair] {
        var pairs: [YAMLNode.Pair] = []
        var seen: [String: Mark] = [:]
        var merged: [YAMLNode.Pair] = []
        var firstMerge: Mark?
        for pair in raw {
            if options.resolveMerges, isMergeKey(pair.key) {
                if let firstMerge {
                    throw YAMLError(.duplicateKey, at: pair.key.mark,
                                    "a second merge key `<<` (the first is at \(firstMerge)); merge several mappings with one: `<<: [*a, *b]`")
                }
                firstMerge = pair.key.mark
                merged += try mergeSources(pair.value).flatMap { $0.mapping ?? [] }
                continue
            }
            if let identity = Self.keyIdentity(pair.key) {
                if let first = seen[identity] {
                    throw YAMLError(.duplicateKey, at: pair.key.mark,
                                    "duplicate key \(identity.quoted) (first defined at \(first)); keep only one")
                }
                seen[identity] = pair.key.mark
            }
            pairs.append(pair)
        }
        for pair in merged {
            guard let identity = Self.keyIdentity(pair.key) else { continue }
            if seen[identity] == nil {
                seen[identity] = pair.key.mark
                pairs.append(pair)
            }
        }
        return pairs
    }

    private func isMergeKey(_ key: YAMLNode) -> Bool {
        guard let s = key.scalar, s.value == "<<" else { return false }
        return key.tag == Tag.merge || (key.tag == nil && s.style == .plain)
    }

    private func mergeSources(_ value: YAMLNode) throws -> [YAMLNode] {
        if value.mapping != nil { return [value] }
        if let items = value.sequence, items.allSatisfy({ $0.mapping != nil }) { return items }
        throw YAMLError(.type, at: value.mark, "a merge key `<<` takes a mapping or a list of mappings, got \(value.kindDescription)")
    }

    /// Scalar keys compare by their text; other keys are not compared.
    static func keyIdentity(_ key: YAMLNode) -> String? { key.scalar?.value }

    // MARK: - Events

    private func next(_ parser: UnsafeMutablePointer<yaml_parser_t>) throws -> (event: Event, mark: Mark) {
        var raw = yaml_event_t()
        guard yaml_parser_parse(parser, &raw) == 1 else { throw parserError(parser.pointee) }
        defer { yaml_event_delete(&raw) }
        let mark = Mark(line: Int(raw.start_mark.line) + 1, column: Int(raw.start_mark.column) + 1)
        let event: Event
        switch raw.type {
        case YAML_STREAM_START_EVENT: event = .streamStart
        case YAML_STREAM_END_EVENT: event = .streamEnd
        case YAML_DOCUMENT_START_EVENT: event = .documentStart
        case YAML_DOCUMENT_END_EVENT: event = .documentEnd
        case YAML_ALIAS_EVENT: event = .alias(anchor: Self.string(raw.data.alias.anchor) ?? "")
        case YAML_SCALAR_EVENT:
            let s = raw.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            event = .scalar(anchor: Self.string(s.anchor), tag: Self.string(s.tag), value: value, style: Self.style(s.style))
        case YAML_SEQUENCE_START_EVENT:
            event = .sequenceStart(anchor: Self.string(raw.data.sequence_start.anchor), tag: Self.string(raw.data.sequence_start.tag))
        case YAML_SEQUENCE_END_EVENT: event = .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            event = .mappingStart(anchor: Self.string(raw.data.mapping_start.anchor), tag: Self.string(raw.data.mapping_start.tag))
        case YAML_MAPPING_END_EVENT: event = .mappingEnd
        default:
            throw YAMLError(.syntax, at: mark, "libyaml produced an event Parvester does not know")
        }
        return (event, mark)
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func style(_ style: yaml_scalar_style_t) -> ScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: return .literal
        case YAML_FOLDED_SCALAR_STYLE: return .folded
        default: return .plain
        }
    }

    private func parserError(_ parser: yaml_parser_t) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        if parser.error == YAML_READER_ERROR {
            // Reader errors (bad encoding, control characters) carry a byte offset instead of a mark.
            let mark = markOfByte(Int(parser.problem_offset))
            let value = parser.problem_value >= 0 ? " (byte 0x\(String(Int(parser.problem_value), radix: 16, uppercase: true)))" : ""
            return YAMLError(.syntax, at: mark, "\(problem)\(value); is this a text file in UTF-8?")
        }
        let mark = Mark(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1)
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            let contextMark = Mark(line: Int(parser.context_mark.line) + 1, column: Int(parser.context_mark.column) + 1)
            message += " (\(context) at \(contextMark))"
        }
        return YAMLError(.syntax, at: mark, message)
    }

    private func markOfByte(_ offset: Int) -> Mark {
        var line = 1
        var column = 1
        var index = 0
        let end = min(offset, bytes.count)
        while index < end {
            let byte = bytes[index]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1  // count characters, not continuation bytes
            }
            index += 1
        }
        return Mark(line: line, column: column)
    }
}
