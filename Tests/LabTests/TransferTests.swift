import Foundation
import SSH
import Testing

@Suite("SFTP transfers", .enabled(if: !Lab.skipped, Lab.skipReason))
struct TransferTests {
    private func randomFile(megabytes: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-upload-\(UUID().uuidString)").path
        try #require(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<megabytes {
            handle.write(Data((0..<(1 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }))
        }
        try handle.close()
        return path
    }

    @Test func hundredMiBArriveIntactAtomicallyWithProgress() async throws {
        let local = try randomFile(megabytes: 100)
        defer { try? FileManager.default.removeItem(atPath: local) }
        let expected = String(try Lab.local(["sha256sum", local]).prefix(64))
        let connection = try await Lab.connect("lab2")
        let progress = ProgressRecorder()
        try await connection.upload(.file(local), to: "/var/lib/rancher/big.bin", mode: 0o640, createDirectory: true,
                                    progress: { sent, total in progress.record(sent, total) })
        let remote = try await connection.run("sha256sum /var/lib/rancher/big.bin; stat -c %a /var/lib/rancher/big.bin; ls -a /var/lib/rancher | grep -c parvester || true")
        let lines = remote.stdoutText.split(separator: "\n")
        #expect(String(lines[0].prefix(64)) == expected)
        #expect(lines[1] == "640")
        #expect(lines[2] == "0", "no temporary file is left behind")
        let last = try #require(progress.last)
        #expect(last.0 == 100 << 20 && last.1 == 100 << 20)
        #expect(progress.count >= 100)
        _ = try await connection.run("rm -f /var/lib/rancher/big.bin")
        await connection.close()
    }

    @Test func filesAreVisibleOnlyOnTheirOwnNode() async throws {
        let one = try await Lab.connect("lab3")
        let two = try await Lab.connect("lab4")
        try await one.upload(.data(Data("only on lab3\n".utf8)), to: "/etc/rancher/rke2/marker", mode: 0o600, createDirectory: true)
        #expect(try await one.download("/etc/rancher/rke2/marker") == Data("only on lab3\n".utf8))
        #expect(try await two.run("test -e /etc/rancher/rke2/marker").exitStatus == 1)
        #expect(!FileManager.default.fileExists(atPath: "/etc/rancher/rke2/marker"))
        _ = try await one.run("rm -rf /etc/rancher/rke2")
        await one.close()
        await two.close()
    }

    @Test func aNonRootUserInstallsThroughSudoWithModeAndOwner() async throws {
        let connection = try await Lab.connect("lab5", user: "pvuser")
        let secret = Data("token: s3cr3t\n".utf8)
        try await connection.upload(.data(secret), to: "/etc/rancher/rke2/config.yaml", mode: 0o600, owner: "root:root",
                                    become: true, createDirectory: true)
        let stat = try await connection.run("stat -c '%a %U %G' /etc/rancher/rke2/config.yaml", become: true)
        #expect(stat.stdoutText == "600 root root\n")
        #expect(try await connection.download("/etc/rancher/rke2/config.yaml", become: true) == secret)
        let leftovers = try await connection.run("ls -a /tmp /etc/rancher/rke2 | grep -c -e ^.parvester-upload- -e ^.config.yaml.parvester- || true", become: true)
        #expect(leftovers.stdoutText == "0\n", "staging files are removed")
        _ = try await connection.run("rm -rf /etc/rancher/rke2", become: true)
        await connection.close()
    }
}

final class ProgressRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [(Int64, Int64)] = []
    func record(_ sent: Int64, _ total: Int64) { lock.withLock { calls.append((sent, total)) } }
    var count: Int { lock.withLock { calls.count } }
    var last: (Int64, Int64)? { lock.withLock { calls.last } }
}
