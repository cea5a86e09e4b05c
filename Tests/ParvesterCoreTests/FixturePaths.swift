import Foundation

/// Test data lives beside the tests in the source tree; the repository's own examples two levels up.
enum FixturePaths {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let badInventories = testsDirectory.appendingPathComponent("Fixtures/bad")
    static let repositoryRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let exampleInventories = repositoryRoot.appendingPathComponent("inventory")
    static let templates = repositoryRoot.appendingPathComponent("templates")

    static func files(in directory: URL, withExtension ext: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".\(ext)") }.sorted()
    }
}
