import Foundation
import SSH
import Testing

/// Faults on lab51 and lab52 only, one test at a time, so they never disturb the other lab tests.
@Suite("Failures are reported, and leave files intact", .serialized, .enabled(if: !Lab.skipped, Lab.skipReason))
struct FaultTests {
    @Test func aLinkCutMidCommandTimesOutNamingTheNode() async throws {
        _ = try Lab.require(nodes: 52)
        let connection = try await Lab.connect("lab51", options: Lab.options(timeout: 3))
        // The command takes 60 s on a live link, inside the 90 s allowed: only the cut makes it time out.
        // Generous on purpose: on a loaded 2-core machine the first line can take many seconds to come.
        let lines = LineCollector()
        let cutter = Task {
            // Cut once the command is visibly running (its first line has arrived).
            for _ in 0..<8000 where lines.lines.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            try Lab.fault("lab51", "link-down")
        }
        defer { try? Lab.fault("lab51", "link-up") }
        let error = await #expect(throws: SSHError.self) {
            try await connection.run("for i in $(seq 1 600); do echo $i; sleep 0.1; done", timeout: 90) { stream, line in
                lines.add(stream, line)
            }
        }
        try await cutter.value
        #expect(error?.kind == .timeout)
        #expect(error?.description.hasPrefix("lab51 (10.251.0.61:22): command did not finish within 90s") == true, "\(String(describing: error))")
        #expect(lines.lines.count > 0 && lines.lines.count < 600, "output stopped mid-command: \(lines.lines.count) lines")
        await connection.close()
    }

    @Test func aStoppedSSHDIsConnectionRefused() async throws {
        _ = try Lab.require(nodes: 52)
        try Lab.fault("lab52", "sshd-stop")
        defer { try? Lab.fault("lab52", "sshd-start") }
        let error = await #expect(throws: SSHError.self) { try await Lab.connect("lab52") }
        #expect(error?.kind == .refused)
        #expect(error?.description == "lab52 (10.251.0.62:22): connection refused: is sshd running and listening on that port?")
    }

    @Test func aConnectToACutLinkTimesOut() async throws {
        _ = try Lab.require(nodes: 52)
        try Lab.fault("lab51", "link-down")
        defer { try? Lab.fault("lab51", "link-up") }
        let error = await #expect(throws: SSHError.self) { try await Lab.connect("lab51", options: Lab.options(timeout: 1)) }
        #expect(error?.kind == .timeout)
        #expect(error?.message.contains("no answer within 1s") == true)
    }

    @Test func anInterruptedUploadLeavesTheOldFile() async throws {
        _ = try Lab.require(nodes: 52)
        let path = "/var/lib/rancher/interrupted.bin"
        let old = Data("the old, complete file\n".utf8)
        let setup = try await Lab.connect("lab52")
        try await setup.upload(.data(old), to: path, mode: 0o600)
        await setup.close()

        let connection = try await Lab.connect("lab52", options: Lab.options(timeout: 3))
        let big = Data(count: 64 << 20)
        let cut = CutOnce()
        let error = await #expect(throws: SSHError.self) {
            try await connection.upload(.data(big), to: path, mode: 0o600, timeout: 4) { sent, _ in
                if sent >= 8 << 20 { cut.run { try? Lab.fault("lab52", "link-down") } }
            }
        }
        #expect(error?.kind == .timeout)
        try Lab.fault("lab52", "link-up")
        await connection.close()

        let check = try await Lab.connect("lab52")
        #expect(try await check.download(path) == old)
        _ = try await check.run("rm -f /var/lib/rancher/interrupted.bin /var/lib/rancher/.interrupted.bin.parvester-*")
        await check.close()
    }
}

/// Runs a closure the first time only (progress callbacks arrive many times).
final class CutOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func run(_ body: () -> Void) {
        let first = lock.withLock { () -> Bool in
            defer { done = true }
            return !done
        }
        if first { body() }
    }
}
