import Foundation
import SSH
import Testing

@Suite("Commands over SSH against lab nodes", .enabled(if: !Lab.skipped, Lab.skipReason))
struct CommandTests {
    @Test func exitStatusAndOutput() async throws {
        let connection = try await Lab.connect("lab1")
        defer { Task { await connection.close() } }
        let ok = try await connection.run("hostname; echo to-stderr >&2")
        #expect(ok.exitStatus == 0)
        #expect(ok.stdoutText == "lab1\n")
        #expect(ok.stderrText == "to-stderr\n")
        let failed = try await connection.run("exit 3")
        #expect(failed.exitStatus == 3)
        #expect(!failed.succeeded)
        let killed = try await connection.run("kill -TERM $$")
        #expect(killed.signal == "TERM")
    }

    @Test func eightMiBOfStderrBeforeAnyStdoutDoesNotDeadlock() async throws {
        let connection = try await Lab.connect("lab2")
        defer { Task { await connection.close() } }
        let result = try await connection.run("head -c 8388608 /dev/zero >&2; echo done", timeout: 60)
        #expect(result.stderr.count == 8 * 1024 * 1024)
        #expect(result.stdoutText == "done\n")
    }

    @Test func tenMiBOfStdout() async throws {
        let connection = try await Lab.connect("lab3")
        defer { Task { await connection.close() } }
        let result = try await connection.run("head -c 10485760 /dev/urandom", timeout: 60)
        #expect(result.stdout.count == 10 * 1024 * 1024)
        #expect(result.succeeded)
    }

    @Test func inputAndStreamedLines() async throws {
        let connection = try await Lab.connect("lab4")
        defer { Task { await connection.close() } }
        let collector = LineCollector()
        let result = try await connection.run("cat; echo last >&2", input: Data("one\ntwo\nthree".utf8)) { stream, line in
            collector.add(stream, line)
        }
        #expect(result.stdoutText == "one\ntwo\nthree")
        #expect(collector.lines == [.init(stream: .stdout, text: "one"), .init(stream: .stdout, text: "two"),
                                    .init(stream: .stdout, text: "three"), .init(stream: .stderr, text: "last")].sorted())
    }

    @Test func quotedInventoryValuesNeverRun() async throws {
        let connection = try await Lab.connect("lab5")
        defer { Task { await connection.close() } }
        let marker = "/tmp/parvester-pwned-\(UUID().uuidString)"
        let hostile = "$(touch \(marker)); x `touch \(marker)` '\"; touch \(marker)"
        let result = try await connection.run("printf '%s' \(ShellQuote.quote(hostile))")
        #expect(result.stdoutText == hostile)
        let check = try await connection.run("test -e \(ShellQuote.quote(marker))")
        #expect(check.exitStatus == 1, "the hostile value was executed")
    }
}

final class LineCollector: @unchecked Sendable {
    struct Line: Equatable, Comparable {
        var stream: StandardStream
        var text: String
        static func < (a: Line, b: Line) -> Bool { (a.stream == .stdout ? 0 : 1, a.text) < (b.stream == .stdout ? 0 : 1, b.text) }
    }

    private let lock = NSLock()
    private var collected: [Line] = []
    func add(_ stream: StandardStream, _ text: String) { lock.withLock { collected.append(Line(stream: stream, text: text)) } }
    var lines: [Line] { lock.withLock { collected.sorted() } }
}
