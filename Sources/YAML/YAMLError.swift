/// Every YAML problem Parvester reports: where (file:line:column), what (the path users wrote) and why.
public struct YAMLError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Hashable {
        /// libyaml could not read the text (bad indentation, bad encoding, unclosed quotes, ...).
        case syntax
        case duplicateKey
        /// A safety limit: nesting depth or alias expansion.
        case limit
        /// The value is of the wrong shape or type for the field.
        case type
        case missingField
        case unknownKey
        /// Well-typed but not acceptable (validation).
        case invalidValue
        /// A template refers to something that does not exist or cannot be rendered.
        case template
    }

    public var kind: Kind
    public var file: String?
    public var mark: Mark
    public var path: YAMLPath
    public var message: String

    public init(_ kind: Kind, at mark: Mark, path: YAMLPath = .root, file: String? = nil, _ message: String) {
        self.kind = kind
        self.mark = mark
        self.path = path
        self.file = file
        self.message = message
    }

    /// The same error, attributed to a file (decoders and validators do not know file names).
    public func inFile(_ file: String?) -> YAMLError {
        var copy = self
        if copy.file == nil { copy.file = file }
        return copy
    }

    /// `file:line:column: path: message`, leaving out what is unknown.
    public var description: String {
        var parts: [String] = []
        let position = mark.isKnown ? "\(mark.line):\(mark.column)" : nil
        switch (file, position) {
        case let (f?, p?): parts.append("\(f):\(p)")
        case let (f?, nil): parts.append(f)
        case let (nil, p?): parts.append(p)
        case (nil, nil): break
        }
        if !path.isEmpty { parts.append(path.description) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
