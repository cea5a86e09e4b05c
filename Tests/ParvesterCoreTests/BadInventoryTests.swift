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

    @Test func aFIFOOrADeviceSaysWhatItIs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("inventory.yaml").path
        try #require(mkfifo(fifo, 0o600) == 0)
        // Reading a FIFO with no writer would block forever; the check must not open it for a blocking read.
        let fifoError = #expect(throws: InventoryError.self) { try InventoryLoader.load(path: fifo) }
        #expect(fifoError?.description == "\(fifo): cannot read the inventory: it is a FIFO (named pipe), not a regular file; give the path of the inventory file itself")
        let zeroError = #expect(throws: InventoryError.self) { try InventoryLoader.load(path: "/dev/zero") }
        #expect(zeroError?.description == "/dev/zero: cannot read the inventory: it is a character device, not a regular file; give the path of the inventory file itself")
    }

    @Test func anInventoryOverTheSizeCapIsRefusedBeforeReading() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-big-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A sparse 1 GiB file: reading it would take seconds and a gigabyte of memory.
        try #require(FileManager.default.createFile(atPath: path, contents: Data("cluster: {}\n".utf8)))
        try #require(truncate(path, 1 << 30) == 0)
        let error = #expect(throws: InventoryError.self) { try InventoryLoader.load(path: path) }
        #expect(error?.description == "\(path): cannot read the inventory: it is 1073741824 bytes; the limit is 1024 KiB")
    }

    @Test func aMissingIdentityFileWarnsButValidates() throws {
        let yaml = """
            cluster: {name: lab, address: 10.0.0.10}
            ssh: {identityFile: /nonexistent/id_ed25519}
            nodes:
              - {name: n1, address: 10.0.0.11, role: server}
            """
        let inventory = try InventoryLoader.load(bytes: Array(yaml.utf8), file: "inv.yaml", baseDirectory: "/tmp")
        #expect(inventory.warnings.map(\.description) == [
            "inv.yaml:2:21: ssh.identityFile: \"/nonexistent/id_ed25519\" does not exist here (looked for /nonexistent/id_ed25519); `up` and `check` need it",
        ])
    }
}
