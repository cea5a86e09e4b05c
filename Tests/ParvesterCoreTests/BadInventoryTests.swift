import Foundation
import Testing
@testable import ParvesterCore

/// Every fixture under Fixtures/bad is an inventory that must be refused, and each states the problems
/// expected (`# expect: line:column: path: message`, or a `.expect` file beside it for content that
/// cannot hold a comment). Positions count the `# expect` lines themselves.
@Suite("Bad inventories are refused with file:line:column")
struct BadInventoryTests {
    static let fixtures = FixturePaths.files(in: FixturePaths.badInventories, withExtension: "yaml")

    static func expectations(for name: String) throws -> [String] {
        let url = FixturePaths.badInventories.appendingPathComponent(name)
        let sidecar = url.deletingPathExtension().appendingPathExtension("expect")
        let text: String
        if FileManager.default.fileExists(atPath: sidecar.path) {
            text = try String(contentsOf: sidecar, encoding: .utf8)
            return text.split(separator: "\n").map(String.init)
        }
        text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        return text.split(separator: "\n").prefix { $0.hasPrefix("# expect: ") }.map { String($0.dropFirst("# expect: ".count)) }
    }

    @Test func theCorpusHasAtLeastFortyInventories() {
        #expect(Self.fixtures.count >= 40)
    }

    @Test(arguments: fixtures)
    func isRefusedWithTheExpectedProblems(_ name: String) throws {
        let path = FixturePaths.badInventories.appendingPathComponent(name).path
        let expected = try Self.expectations(for: name)
            .map { "\(path):" + $0.replacingOccurrences(of: "FIXTURES", with: FixturePaths.badInventories.path) }
        try #require(!expected.isEmpty, "\(name) states no expected problem")
        let error = #expect(throws: InventoryError.self) { try InventoryLoader.load(path: path) }
        #expect(error?.problems.map(\.description) == expected)
    }

    @Test func aMissingFileSaysSo() {
        let error = #expect(throws: InventoryError.self) { try InventoryLoader.load(path: "/nonexistent/inventory.yaml") }
        #expect(error?.description == "/nonexistent/inventory.yaml: cannot read the inventory: it does not exist")
    }
}
