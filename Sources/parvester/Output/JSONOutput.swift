import Foundation
import ParvesterCore
import YAML

/// Every `--output json` document: one object with `schemaVersion` first among its sorted keys' peers,
/// keys sorted so runs compare with `diff`, two-space indentation, `[]` and `{}` for empty containers.
/// Lists are wrapped (`{"items": [...], "schemaVersion": 1}`) so every document can grow fields.
enum JSONOutput {
    /// Raised when a document's fields change incompatibly (a field removed or its meaning changed).
    static let schemaVersion = 1

    static func encode<T: Encodable>(_ value: T) throws -> String {
        try text(Versioned(value: value))
    }

    static func encodeList<T: Encodable>(_ items: [T]) throws -> String {
        try text(Versioned(value: ["items": items]))
    }

    private static func text<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601  // snapshot and certificate dates, as RKE2 prints them
        let pretty = String(decoding: try encoder.encode(value), as: UTF8.self)
        // Foundation writes an empty array as "[\n\n]"; raw newlines occur only between tokens.
        return pretty.replacing(/([\[{])\n\s*\n\s*([\]}])/) { "\($0.output.1)\($0.output.2)" }
    }

    /// The value's own keys plus `schemaVersion`.
    private struct Versioned<Value: Encodable>: Encodable {
        let value: Value
        enum Key: String, CodingKey { case schemaVersion }
        func encode(to encoder: any Encoder) throws {
            try value.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(JSONOutput.schemaVersion, forKey: .schemaVersion)
        }
    }
}

/// `validate --output json`: either the summary or every problem with its position.
struct ValidationReport: Encodable {
    struct Problem: Encodable {
        var file: String?
        var line: Int?
        var column: Int?
        var path: String?
        var message: String
    }

    var valid: Bool
    var file: String
    var summary: InventorySummary?
    var problems: [Problem]
    /// What holds on a valid inventory but will stop `up` (airgap artifacts of another version).
    var warnings: [String] = []

    init(file: String, summary: InventorySummary) {
        valid = true
        self.file = file
        self.summary = summary
        problems = []
    }

    init(file: String, problems: [YAMLError]) {
        valid = false
        self.file = file
        summary = nil
        self.problems = problems.map {
            Problem(file: $0.file, line: $0.mark.isKnown ? $0.mark.line : nil, column: $0.mark.isKnown ? $0.mark.column : nil,
                    path: $0.path.isEmpty ? nil : $0.path.description, message: $0.message)
        }
    }
}
