import Foundation
import Testing
@testable import ParvesterCore

/// Blocks fenced as ```yaml inventory in docs/ are complete inventories and must validate, so the
/// documentation's examples keep running as the format evolves.
@Suite("Examples in the documentation")
struct DocsExampleTests {
    static let docs = FixturePaths.repositoryRoot.appendingPathComponent("docs")

    static func inventoryBlocks() throws -> [(file: String, line: Int, text: String)] {
        var blocks: [(String, Int, String)] = []
        for name in FixturePaths.files(in: docs, withExtension: "md") {
            let lines = try String(contentsOf: docs.appendingPathComponent(name), encoding: .utf8).components(separatedBy: "\n")
            var index = 0
            while index < lines.count {
                if lines[index].trimmingCharacters(in: .whitespaces) == "```yaml inventory" {
                    let body = lines[(index + 1)...].prefix { $0.trimmingCharacters(in: .whitespaces) != "```" }
                    blocks.append(("docs/\(name)", index + 1, body.joined(separator: "\n")))
                    index += body.count
                }
                index += 1
            }
        }
        return blocks
    }

    @Test func inventoryExamplesValidate() throws {
        let blocks = try Self.inventoryBlocks()
        #expect(blocks.count >= 2)
        for block in blocks {
            do {
                _ = try InventoryLoader.load(bytes: Array(block.text.utf8), file: "\(block.file) (block at line \(block.line))",
                                             baseDirectory: FixturePaths.repositoryRoot.path)
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
