import Foundation
import ParvesterCore
import YAML

enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
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
