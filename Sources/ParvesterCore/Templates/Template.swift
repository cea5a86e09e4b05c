import Foundation
import YAML

/// A parsed template and where it came from (for error positions).
public struct Template: Sendable {
    public let name: String
    /// The file the template was read from, or `templates/NAME` for a built-in one.
    public let source: String
    public let root: YAMLNode

    public init(name: String, source: String, text: String) throws {
        self.name = name
        self.source = source
        // `<<: ${var}` spreads a mapping in templates, so merge keys are left for the engine.
        guard let root = try YAMLParser.parse(text, file: source, options: .init(resolveMerges: false)) else {
            throw YAMLError(.template, at: Mark(line: 1, column: 1), file: source, "the template is empty")
        }
        self.root = root
    }
}

/// Finds templates: a file of the same name in the user's templates directory wins over the built-in one.
public struct TemplateStore: Sendable {
    public let overrideDirectory: String?

    public init(overrideDirectory: String? = nil) { self.overrideDirectory = overrideDirectory }

    public init(for inventory: Inventory) { self.init(overrideDirectory: inventory.templatesDirectory) }

    public static var builtinNames: [String] { BuiltinTemplates.files.keys.sorted() }

    public func template(named name: String) throws -> Template {
        if let directory = overrideDirectory {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: path) {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw YAMLError(.template, at: .none, file: path, "cannot read this template")
                }
                return try Template(name: name, source: path, text: String(decoding: data, as: UTF8.self))
            }
        }
        guard let text = BuiltinTemplates.files[name] else {
            throw YAMLError(.template, at: .none, file: name, "no template of this name; built-in ones are \(Self.builtinNames.joined(separator: ", "))")
        }
        return try Template(name: name, source: "templates/\(name)", text: text)
    }

    /// A template read from an explicit file (a VM's own `template:`).
    public func template(atPath path: String) throws -> Template {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw YAMLError(.template, at: .none, file: path, "cannot read this template")
        }
        return try Template(name: URL(fileURLWithPath: path).lastPathComponent, source: path, text: String(decoding: data, as: UTF8.self))
    }
}
