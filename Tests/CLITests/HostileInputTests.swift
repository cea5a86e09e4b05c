import Foundation
import Testing

/// What the command line does with input meant to crash it, flood it, or drive the terminal.
@Suite("Hostile input on the command line")
struct HostileInputTests {
    static func withInventory(_ yaml: String, _ body: (String, URL) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("inventory.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        try body(path, directory)
    }

    static let valid = """
        cluster: {name: c, address: 10.0.0.1}
        nodes: [{name: s1, address: 10.0.0.2, role: server}]
        """

    /// Every duration flag is parsed with the command line: a bad one is exit 64 with the command's own
    /// usage, in `plan --from-inventory` too, and an out-of-range one names the range instead of crashing.
    @Test(arguments: [
        (["up", "--wait-timeout", "5x"], "expected a duration such as 10s, 500ms or 2m, got \"5x\"", "parvester up "),
        (["up", "--wait-timeout", "2562047788016h"], "is longer than the maximum of 24h", "parvester up "),
        (["up", "--command-timeout", "9223372036854775807s"], "is longer than the maximum of 24h", "parvester up "),
        (["plan", "--from-inventory", "--wait-timeout", "soon"], "got \"soon\"", "parvester plan "),
        (["plan", "--from-inventory", "--command-timeout", "0s"], "too short: give at least 1s", "parvester plan "),
        (["vm", "start", "vm1", "--wait-timeout", "99999999999999999999h"], "is longer than the maximum of 24h", "parvester vm start "),
    ])
    func durationFlagsAreCheckedWhenParsed(_ arguments: [String], _ message: String, _ usage: String) throws {
        try Self.withInventory(Self.valid) { path, _ in
            let result = try CLI.run(arguments + ["-i", path])
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.contains("Usage: \(usage)"), "the command's own usage: \(result.stderr)")
        }
    }

    /// The destructive commands check their command line before anything: a bad one is exit 64 with the
    /// command's own usage; without a terminal and without --yes they refuse, touching no node (the
    /// inventory's nodes are on a port where nothing listens).
    @Test(arguments: [
        (["remove"], "Missing expected argument", "parvester remove "),
        (["remove", "n2", "--vms", "migrate"], "provide one of 'refuse' and 'stop'", "parvester remove "),
        (["reset", "--wipe", "--vms", "stop"], "Unknown option '--vms'", "parvester reset "),
    ])
    func destructiveCommandLinesAreCheckedFirst(_ arguments: [String], _ message: String, _ usage: String) throws {
        try Self.withInventory(Self.valid) { path, _ in
            let result = try CLI.run(arguments + ["-i", path])
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.contains("Usage: \(usage)"), "the command's own usage: \(result.stderr)")
        }
    }

    @Test(arguments: [["remove", "n2"], ["reset"], ["up", "--prune"]])
    func destructiveCommandsRefuseWithoutATerminalOrYes(_ arguments: [String]) throws {
        try Self.withInventory(Self.valid) { path, _ in
            let result = try CLI.run(arguments + ["-i", path])
            #expect(result.status == 1, "\(arguments): \(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("pass --yes"), "\(result.stderr)")
            #expect(result.stdout.isEmpty, "nothing ran: \(result.stdout)")
        }
    }

    @Test func credentialsInURLsAreNeverPrinted() throws {
        try Self.withInventory("""
            cluster:
              name: c
              address: 10.0.0.1
              install: {scriptURL: "https://deploy:hunter2@mirror.example/install.sh"}
            nodes: [{name: s1, address: 10.0.0.2, role: server}]
            """) { path, _ in
            for command in [["validate"], ["validate", "--output", "json"], ["plan", "--from-inventory"], ["plan", "--from-inventory", "--output", "json"]] {
                let result = try CLI.run(command + ["-i", path])
                #expect(result.status == 0, "\(command): \(result.stderr)")
                #expect(!(result.stdout + result.stderr).contains("hunter2"), "\(command) printed the password")
                #expect(!(result.stdout + result.stderr).contains("deploy:"), "\(command) printed the user")
            }
            let plan = try CLI.run(["plan", "--from-inventory", "-i", path])
            #expect(plan.stdout.contains("https://***@mirror.example/install.sh"), "\(plan.stdout)")
        }
    }

    @Test func controlCharactersAreRefusedAndNeverPrintedRaw() throws {
        try Self.withInventory("""
            cluster:
              name: c
              address: 10.0.0.1
              install: {scriptURL: "https://get.rke2.io/\\e]0;pwned\\a\\e[2J"}
            nodes: [{name: s1, address: 10.0.0.2, role: server}]
            """) { path, _ in
            let result = try CLI.run(["validate", "-i", path])
            #expect(result.status == 2)
            #expect(!(result.stdout + result.stderr).unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" }, "raw control characters were printed")
            #expect(result.stderr.contains("4:24: cluster.install.scriptURL: \"https://get.rke2.io/\\u{1B}]0;pwned\\u{07}\\u{1B}[2J\" contains the control character U+001B"),
                    "\(result.stderr)")
        }
    }

    @Test func aHugeValueIsQuotedCut() throws {
        let huge = String(repeating: "x", count: 4 << 20)
        try Self.withInventory("cluster: {name: c, address: \(huge)}\nnodes: [{name: s1, address: 10.0.0.2, role: server}]\n") { path, _ in
            let result = try CLI.run(["validate", "-i", path])
            #expect(result.status == 2)
            // 4 MiB is over the inventory cap: refused by size, before reading.
            #expect(result.stderr.contains("the limit is 1024 KiB"), "\(result.stderr.prefix(300))")
            #expect(result.stderr.utf8.count < 2000)
        }
        let big = String(repeating: "x", count: 500 << 10)
        try Self.withInventory("cluster: {name: c, address: \(big)}\nnodes: [{name: s1, address: 10.0.0.2, role: server}]\n") { path, _ in
            let result = try CLI.run(["validate", "-i", path])
            #expect(result.status == 2)
            #expect(result.stderr.contains("…\" (512000 bytes) is neither an IP address nor a valid host name"), "\(result.stderr.prefix(300))")
            #expect(result.stderr.utf8.count < 2000, "the value is cut, not quoted whole")
        }
    }
}
