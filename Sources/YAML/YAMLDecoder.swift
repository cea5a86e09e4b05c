/// Decodes `Decodable` values from a YAML node tree. Strings are taken exactly as written (YAML 1.1
/// traps such as `on`, `no`, `0644` and `1e3` stay strings where a string is expected); booleans and
/// numbers must be written plainly; unknown keys are refused with a suggestion.
public struct YAMLDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from node: YAMLNode, file: String? = nil) throws -> T {
        do {
            return try T(from: NodeDecoder(node: node, path: .root, root: node, log: nil))
        } catch let error as YAMLError {
            throw error.inFile(file)
        } catch let error as DecodingError {
            throw Self.translate(error, root: node).inFile(file)
        }
    }

    /// Decodes like `decode(_:from:file:)` but goes on past problems where it can (unknown keys, values
    /// of optional fields, words of a choice, further list items), so one run reports them all. Throws
    /// `YAMLErrors` with every problem in document order.
    public func decodeReportingAll<T: Decodable>(_ type: T.Type, from node: YAMLNode, file: String? = nil) throws -> T {
        let log = ProblemLog()
        var value: T?
        do {
            value = try T(from: NodeDecoder(node: node, path: .root, root: node, log: log))
        } catch {
            log.record(error, root: node)
        }
        guard let value, log.problems.isEmpty else {
            let sorted = log.problems.enumerated().sorted { ($0.element.mark, $0.offset) < ($1.element.mark, $1.offset) }
            throw YAMLErrors(problems: sorted.map { $0.element.inFile(file) })
        }
        return value
    }

    /// Parses one document and decodes it; an empty document is decoded from an empty mapping's worth of null.
    public func decode<T: Decodable>(_ type: T.Type, fromYAML text: String, file: String? = nil) throws -> T {
        let node = try YAMLParser.parse(text, file: file) ?? YAMLNode(.scalar(Scalar("", style: .plain)), mark: Mark(line: 1, column: 1))
        return try decode(type, from: node, file: file)
    }

    /// Errors thrown by hand-written `init(from:)` code arrive as `DecodingError`; give them a position.
    static func translate(_ error: DecodingError, root: YAMLNode) -> YAMLError {
        let context: DecodingError.Context
        let kind: YAMLError.Kind
        switch error {
        case .typeMismatch(_, let c): (context, kind) = (c, .type)
        case .valueNotFound(_, let c): (context, kind) = (c, .missingField)
        case .keyNotFound(let key, let c):
            let path = YAMLPath(codingPath: c.codingPath)
            return YAMLError(.missingField, at: root.closestMark(to: path), path: path,
                             "missing required field \(key.stringValue.quoted)")
        case .dataCorrupted(let c): (context, kind) = (c, .invalidValue)
        @unknown default:
            return YAMLError(.invalidValue, at: root.mark, "\(error)")
        }
        let path = YAMLPath(codingPath: context.codingPath)
        return YAMLError(kind, at: root.closestMark(to: path), path: path, context.debugDescription)
    }
}

/// Several problems found in one document, in document order.
public struct YAMLErrors: Error, CustomStringConvertible, Sendable {
    public let problems: [YAMLError]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Problems recorded while decoding goes on; decoding is single-threaded, so no lock.
final class ProblemLog: @unchecked Sendable {
    private(set) var problems: [YAMLError] = []

    /// Stands for a problem already in the log, so callers further up do not record it again.
    struct Recorded: Error {}

    /// Records an error (unless it was recorded already) and returns the marker to throw on.
    @discardableResult
    func record(_ error: any Error, root: YAMLNode) -> Recorded {
        switch error {
        case is Recorded: break
        case let error as YAMLError: problems.append(error)
        case let error as DecodingError: problems.append(YAMLDecoder.translate(error, root: root))
        default: problems.append(YAMLError(.invalidValue, at: root.mark, "\(error)"))
        }
        return Recorded()
    }
}

/// A block of file content (cloud-init user data, a script): unlike every other string, it may hold
/// tabs, newlines and other control characters.
public struct TextBlock: Decodable, Sendable, Hashable {
    public let text: String
    public init(_ text: String) { self.text = text }
    public init(from decoder: any Decoder) throws {
        guard let decoder = decoder as? NodeDecoder else { text = try decoder.singleValueContainer().decode(String.self); return }
        text = try decoder.rawString()
    }
}

/// Enumerations decoded from a fixed set of words; errors list the words.
public protocol YAMLChoice: CaseIterable, RawRepresentable, Decodable where RawValue == String {}

extension YAMLNode: Decodable {
    /// Keeps a subtree as it was written (for pass-through configuration).
    public init(from decoder: any Decoder) throws {
        guard let decoder = decoder as? NodeDecoder else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "YAMLNode can only be decoded by YAMLDecoder"))
        }
        self = decoder.node
    }
}

extension YAMLPath {
    init(codingPath: [any CodingKey]) {
        self.init(codingPath.map { key in key.intValue.map { .index($0) } ?? .key(key.stringValue) })
    }
}

struct PathKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

// MARK: - Decoder

struct NodeDecoder: Decoder {
    let node: YAMLNode
    let path: YAMLPath
    let root: YAMLNode
    /// Set when decoding goes on past problems (`decodeReportingAll`).
    let log: ProblemLog?

    var codingPath: [any CodingKey] {
        path.components.map {
            switch $0 {
            case .key(let k): return PathKey(stringValue: k)
            case .index(let i): return PathKey(intValue: i)
            }
        }
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func child(_ node: YAMLNode, _ component: YAMLPath.Component) -> NodeDecoder {
        NodeDecoder(node: node, path: YAMLPath(path.components + [component]), root: root, log: log)
    }

    func error(_ kind: YAMLError.Kind, _ message: String) -> YAMLError {
        YAMLError(kind, at: node.mark, path: path, message)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    /// Decodes a child value, giving choice enumerations their friendly error.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if let choice = T.self as? any YAMLChoice.Type {
            let word = try decode(String.self)
            let words = allWords(choice)
            guard words.contains(word) else {
                throw error(.invalidValue, "expected one of \(words.joined(separator: ", ")), got \(word.quoted)")
            }
        }
        return try T(from: self)
    }

    private func allWords<C: YAMLChoice>(_ type: C.Type) -> [String] { C.allCases.map(\.rawValue) }

    /// Runs one decode; when problems are being collected, records a failure and returns `fallback()`
    /// (or throws the "already recorded" marker when there is no stand-in value).
    func recovering<T>(_ body: () throws -> T, fallback: () -> T? = { nil }) throws -> T {
        do {
            return try body()
        } catch {
            guard let log else { throw error }
            let marker = log.record(error, root: root)
            if let value = fallback() { return value }
            throw marker
        }
    }

    /// A stand-in for a choice word that was refused, so decoding can go on to the next field.
    static func standIn<T>(_ type: T.Type) -> T? {
        guard let choice = T.self as? any YAMLChoice.Type else { return nil }
        return firstCase(choice) as? T
    }

    private static func firstCase<C: YAMLChoice>(_ type: C.Type) -> Any? { C.allCases.first }
}

// MARK: - Scalars

extension NodeDecoder: SingleValueDecodingContainer {
    private static let knownScalarTags: Set<String> = [Tag.str, Tag.nonSpecific, Tag.int, Tag.float, Tag.bool, Tag.null]

    /// The scalar's text, refusing collections and unsupported tags.
    private func scalarText(expected: String) throws -> Scalar {
        guard let scalar = node.scalar else {
            throw error(.type, "expected \(expected), got \(node.kindDescription)")
        }
        if let tag = node.tag, !Self.knownScalarTags.contains(tag) {
            throw error(.type, "the tag \(tag) is not supported here; remove it")
        }
        return scalar
    }

    /// Booleans and numbers must be plain (unquoted) and untagged, or carry their own core tag.
    private func plainText(expected: String, tag: String) throws -> String {
        let scalar = try scalarText(expected: expected)
        if node.isNull { throw error(.type, "expected \(expected), got null") }
        if scalar.style != .plain || (node.tag != nil && node.tag != tag) {
            throw error(.type, "expected \(expected), got the string \(scalar.value.quoted); remove the quotes")
        }
        return scalar.value
    }

    func decodeNil() -> Bool { node.isNull }

    func decode(_ type: String.Type) throws -> String {
        let text = try rawString()
        if let control = QuotedText.controlCharacter(in: text) {
            throw error(.invalidValue, "\(text.quoted) contains the control character \(QuotedText.name(control)); remove it")
        }
        return text
    }

    /// The string as written, control characters and all (for `TextBlock`).
    func rawString() throws -> String {
        let scalar = try scalarText(expected: "a string")
        if node.isNull { throw error(.type, "expected a string, got null") }
        return scalar.value
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        let text = try plainText(expected: "true or false", tag: Tag.bool)
        guard let value = ScalarResolver.bool(text) else {
            throw error(.type, "expected true or false, got \(text.quoted)")
        }
        return value
    }

    func decode(_ type: Double.Type) throws -> Double {
        let text = try plainText(expected: "a number", tag: Tag.float)
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        if ScalarResolver.kind12(text) == .float || ScalarResolver.kind12(text) == .int, let value = Double(text) {
            return value
        }
        throw error(.type, "expected a number, got \(text.quoted)")
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let text = try plainText(expected: "an integer", tag: Tag.int)
        var digits = Substring(text)
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.hasPrefix("0x") { radix = 16; digits = digits.dropFirst(2) }
        else if digits.hasPrefix("0o") { radix = 8; digits = digits.dropFirst(2) }
        else if digits.count > 1, digits.hasPrefix("0"), digits.allSatisfy(\.isNumber) {
            throw error(.type, "\(text) is ambiguous: YAML 1.1 reads a leading 0 as octal, YAML 1.2 as decimal; write \(digits.drop { $0 == "0" }.isEmpty ? "0" : String(digits.drop { $0 == "0" })) or 0o\(digits.dropFirst())")
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isHexDigit }), let magnitude = T(String(digits), radix: radix) ?? nil as T? else {
            if !digits.isEmpty, digits.allSatisfy({ $0.isNumber }) {
                throw error(.type, "\(text) is out of range (\(T.min)...\(T.max))")
            }
            throw error(.type, "expected an integer, got \(text.quoted)")
        }
        if negative {
            guard T.isSigned else { throw error(.type, "expected a non-negative integer, got \(text)") }
            return 0 - magnitude
        }
        return magnitude
    }

    func decode(_ type: Int.Type) throws -> Int { try decodeInteger(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }
}

// MARK: - Mappings

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    private let pairs: [YAMLNode.Pair]
    private let index: [String: YAMLNode.Pair]
    /// Keys suggested for misspelled ones: a field missing for that reason is not reported twice.
    private let suggested: Set<String>

    init(decoder: NodeDecoder) throws {
        self.decoder = decoder
        let node = decoder.node
        if node.isNull {
            pairs = []  // `bridge:` with nothing after it reads as an empty mapping
        } else if let mapping = node.mapping {
            pairs = mapping
        } else {
            throw decoder.error(.type, "expected a mapping, got \(node.kindDescription)")
        }
        var index: [String: YAMLNode.Pair] = [:]
        var suggested: Set<String> = []
        for pair in pairs {
            guard let key = pair.key.scalar?.value else {
                throw YAMLError(.type, at: pair.key.mark, path: decoder.path, "keys must be plain text, got \(pair.key.kindDescription)")
            }
            if Key(stringValue: key) == nil {
                let suggestion = Self.suggestion(for: key)
                let problem = YAMLError(.unknownKey, at: pair.key.mark, path: decoder.path, Self.unknownKeyMessage(key, suggestion: suggestion))
                guard let log = decoder.log else { throw problem }
                log.record(problem, root: decoder.root)
                if let suggestion { suggested.insert(suggestion) }
                continue
            }
            index[key] = pair
        }
        self.index = index
        self.suggested = suggested
    }

    private static func suggestion(for key: String) -> String? {
        guard let known = Key.self as? any (CodingKey & CaseIterable).Type else { return nil }
        return KeySuggestion.closest(to: key, among: keyNames(known))
    }

    private static func unknownKeyMessage(_ key: String, suggestion: String?) -> String {
        if let suggestion { return "unknown key \(key.quoted); did you mean \(suggestion.quoted)?" }
        guard let known = Key.self as? any (CodingKey & CaseIterable).Type else { return "unknown key \(key.quoted)" }
        return "unknown key \(key.quoted); expected one of \(keyNames(known).joined(separator: ", "))"
    }

    private static func keyNames<K: CodingKey & CaseIterable>(_ type: K.Type) -> [String] {
        K.allCases.map(\.stringValue)
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { pairs.compactMap { $0.key.scalar.flatMap { Key(stringValue: $0.value) } } }

    func contains(_ key: Key) -> Bool { index[key.stringValue] != nil }

    private func child(_ key: Key) throws -> NodeDecoder {
        guard let pair = index[key.stringValue] else {
            if suggested.contains(key.stringValue) { throw ProblemLog.Recorded() }
            throw YAMLError(.missingField, at: decoder.node.mark, path: decoder.path,
                            "missing required field \(key.stringValue.quoted)")
        }
        return decoder.child(pair.value, .key(key.stringValue))
    }

    func decodeNil(forKey key: Key) throws -> Bool { index[key.stringValue]?.value.isNull ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.recovering({
            let child = try child(key)
            if child.node.isNull, !(T.self is any OptionalMarker.Type) {
                // `address:` left empty: say which field, not just "expected a string, got null".
                throw child.error(.type, "a value is required here, got nothing")
            }
            return try child.decodeValue(type)
        }, fallback: { NodeDecoder.standIn(T.self) })
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let pair = index[key.stringValue], !pair.value.isNull else { return nil }
        return try decoder.recovering({ try decoder.child(pair.value, .key(key.stringValue)).decodeValue(type) }, fallback: { .some(nil) })
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(Wrapped<Bool>.self, forKey: key).value }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(Wrapped<String>.self, forKey: key).value }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(Wrapped<Double>.self, forKey: key).value }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(Wrapped<Float>.self, forKey: key).value }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(Wrapped<Int>.self, forKey: key).value }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(Wrapped<Int8>.self, forKey: key).value }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(Wrapped<Int16>.self, forKey: key).value }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(Wrapped<Int32>.self, forKey: key).value }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(Wrapped<Int64>.self, forKey: key).value }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(Wrapped<UInt>.self, forKey: key).value }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(Wrapped<UInt8>.self, forKey: key).value }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(Wrapped<UInt16>.self, forKey: key).value }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(Wrapped<UInt32>.self, forKey: key).value }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(Wrapped<UInt64>.self, forKey: key).value }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
}

/// Lets the concrete `decode(_:forKey:)` overloads share the generic path (and its null check).
private struct Wrapped<Value: Decodable>: Decodable {
    let value: Value
    init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(Value.self) }
}

protocol OptionalMarker {}
extension Optional: OptionalMarker {}

// MARK: - Sequences

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    private let items: [YAMLNode]
    private(set) var currentIndex = 0

    init(decoder: NodeDecoder) throws {
        self.decoder = decoder
        if decoder.node.isNull {
            items = []  // `tlsSANs:` with nothing after it reads as an empty list
        } else if let sequence = decoder.node.sequence {
            items = sequence
        } else {
            throw decoder.error(.type, "expected a list, got \(decoder.node.kindDescription)")
        }
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func nextDecoder() throws -> NodeDecoder {
        guard !isAtEnd else {
            throw decoder.error(.type, "expected more items in this list")
        }
        defer { currentIndex += 1 }
        return decoder.child(items[currentIndex], .index(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let child = try nextDecoder()
        do {
            if child.node.isNull, !(T.self is any OptionalMarker.Type) {
                throw child.error(.type, "an empty list item; remove the lone `-` or give it a value")
            }
            return try child.decodeValue(type)
        } catch {
            guard let log = decoder.log else { throw error }
            log.record(error, root: decoder.root)
            // The list's decoding stops at this item: look at the items after it now, so their problems
            // are reported in the same run.
            while !isAtEnd {
                let next = try nextDecoder()
                if next.node.isNull { log.record(next.error(.type, "an empty list item; remove the lone `-` or give it a value"), root: decoder.root); continue }
                do { _ = try next.decodeValue(type) } catch { log.record(error, root: decoder.root) }
            }
            throw ProblemLog.Recorded()
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try nextDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nextDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try nextDecoder() }
}
