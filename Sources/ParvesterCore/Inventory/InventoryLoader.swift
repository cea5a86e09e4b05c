import Foundation
import YAML

/// All the problems found in an inventory, each with file:line:column; nothing was touched.
public struct InventoryError: Error, CustomStringConvertible, Sendable {
    public var problems: [YAMLError]

    public init(_ problems: [YAMLError]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads, decodes, defaults and validates an inventory file.
public enum InventoryLoader {
    /// The largest inventory read (1 MiB, far above any real one): checked before reading, so a huge or
    /// endless file costs neither time nor memory.
    public static let maximumSize = 1 << 20

    public static func load(path: String) throws -> Inventory {
        let bytes: [UInt8]
        do {
            bytes = try LocalFileReader.contents(of: path, limit: maximumSize, what: "inventory")
        } catch let error as LocalFileReader.Failure {
            throw InventoryError([YAMLError(.syntax, at: .none, file: path, "cannot read the inventory: \(error.reason)")])
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try load(bytes: bytes, file: path, baseDirectory: directory)
    }

    public static func load(bytes: [UInt8], file: String, baseDirectory: String) throws -> Inventory {
        let tree: YAMLNode
        let spec: InventorySpec
        do {
            let documents = try YAMLParser.parseAll(bytes: bytes, file: file)
            guard let first = documents.first else {
                throw YAMLError(.missingField, at: Mark(line: 1, column: 1), file: file,
                                "the inventory is empty; start from inventory/single-node.yaml (see docs/inventory.md)")
            }
            if documents.count > 1 {
                throw YAMLError(.syntax, at: documents[1].mark, file: file,
                                "an inventory is one YAML document; remove the extra `---` sections")
            }
            tree = first
            spec = try YAMLDecoder().decodeReportingAll(InventorySpec.self, from: tree, file: file)
        } catch let error as YAMLError {
            throw InventoryError([error])
        } catch let errors as YAMLErrors {
            throw InventoryError(errors.problems)
        }
        var resolver = InventoryResolver(spec: spec, tree: tree, file: file, baseDirectory: baseDirectory,
                                         source: String(decoding: bytes, as: UTF8.self))
        guard let inventory = resolver.resolve() else { throw InventoryError(resolver.problems) }
        return inventory
    }
}
