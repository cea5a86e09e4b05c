import Foundation
@testable import ParvesterCore
import SSH
import TestSupport
import Testing
import YAML

/// The lab's RKE2 double fails where real RKE2 fails: wrong tokens, concurrent server joins, names
/// missing from tls-san, servers too far apart in version. Nodes lab30-lab39 and lab122-lab123 only.
@Suite("RKE2 double on lab nodes", .enabled(if: !Lab.skipped, Lab.skipReason))
struct RKE2DoubleTests {
    private func fresh(_ name: String) async throws -> SSHConnection { try await Lab.freshRKE2(name) }

    private func configure(_ connection: SSHConnection, _ config: String, file: String = "/etc/rancher/rke2/config.yaml") async throws {
        try await Lab.write(connection, config, to: file)
    }

    @Test func theAirgapInstallChecksChecksumAndVersion() async throws {
        let artifacts = try Lab.require().artifacts
        let connection = try await fresh("lab30")
        defer { Task { await connection.close() } }
        #expect(try await connection.run("rke2 --version").stdoutText.hasPrefix("rke2 version v1.28.11+rke2r1 "))
        #expect(try await connection.run("ls /usr/local/lib/systemd/system").stdoutText.contains("rke2-server.service"))
        let wrongVersion = try await connection.run("INSTALL_RKE2_ARTIFACT_PATH=\(artifacts) INSTALL_RKE2_VERSION=v1.29.0+rke2r1 sh \(artifacts)/install.sh")
        #expect(wrongVersion.exitStatus == 1)
        #expect(wrongVersion.stderrText.contains("the artifacts in \(artifacts) are v1.28.11+rke2r1"))
        // A corrupted tarball next to the real checksum file is refused.
        let corrupt = try await connection.run("""
            d=$(mktemp -d) && cp \(artifacts)/* $d/ && echo x >> $d/rke2.linux-amd64.tar.gz && \
            INSTALL_RKE2_ARTIFACT_PATH=$d sh $d/install.sh; rc=$?; rm -rf $d; exit $rc
            """)
        #expect(corrupt.exitStatus == 1)
        #expect(corrupt.stderrText.contains("sha256 does not match"))
    }

    @Test func aServerWritesItsTokenAndKubeconfigAndAgentsNeedTheRightToken() async throws {
        let server = try await fresh("lab31")
        defer { Task { await server.close() } }
        try await configure(server, "token: lab-secret\nwrite-kubeconfig-mode: \"0640\"\n")
        // config.yaml.d files come later and win.
        try await configure(server, "write-kubeconfig-mode: \"0644\"\n", file: "/etc/rancher/rke2/config.yaml.d/50-mode.yaml")
        #expect(try await server.run("systemctl enable --now rke2-server", timeout: 60).succeeded)
        let files = try await server.run("cat /var/lib/rancher/rke2/server/node-token; stat -c %a /var/lib/rancher/rke2/server/node-token /etc/rancher/rke2/rke2.yaml")
        let lines = files.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines[0].wholeMatch(of: /K10[0-9a-f]{64}::server:lab-secret/) != nil)
        #expect(Array(lines.dropFirst()) == ["600", "644"])

        let good = try await fresh("lab34")
        try await configure(good, "server: https://\(try Lab.node("lab31").address):9345\ntoken: \(lines[0])\n")
        #expect(try await good.run("systemctl enable --now rke2-agent; systemctl is-active rke2-agent", timeout: 60).stdoutText == "active\n")
        await good.close()

        let wrong = try await fresh("lab35")
        try await configure(wrong, "server: https://\(try Lab.node("lab31").address):9345\ntoken: not-the-token\n")
        // As under systemd: the start job fails, and Restart=always keeps the agent cycling, never `failed`.
        let failed = try await wrong.run("systemctl enable --now rke2-agent; echo \"start=$?\"; systemctl show -p ActiveState,SubState rke2-agent; journalctl -u rke2-agent -n 3", timeout: 60)
        #expect(failed.stdoutText.contains("start=1\nActiveState=activating\nSubState=auto-restart\n"), "\(failed.stdoutText)")
        #expect(failed.stdoutText.contains("token is not valid for this cluster"))
        _ = try await wrong.run("systemctl stop rke2-agent")
        await wrong.close()
    }

    @Test func anUnknownConfigKeyStopsTheService() async throws {
        let connection = try await fresh("lab33")
        defer { Task { await connection.close() } }
        try await configure(connection, "token: t\ntls-sans: [typo.example]\n")
        let result = try await connection.run("systemctl start rke2-server; echo \"start=$?\"; systemctl is-active rke2-server; journalctl -u rke2-server -n 3", timeout: 60)
        #expect(result.stdoutText.contains("start=1\nactivating\n"), "restarting, as RKE2's Restart=always makes it: \(result.stdoutText)")
        #expect(result.stdoutText.contains("unknown configuration key 'tls-sans'"))
        _ = try await connection.run("systemctl stop rke2-server")
    }

    @Test func twoServersJoiningAtOnceFailsOne() async throws {
        let first = try await fresh("lab36")
        defer { Task { await first.close() } }
        try await configure(first, "token: join-test\n")
        // The first server holds the member-add lock for 30 s per join, so the two joins below overlap
        // even when the full suite's load delays one of them by seconds.
        _ = try await first.run("echo PARVESTER_LAB_JOIN_SECONDS=30 >> /usr/local/lib/systemd/system/rke2-server.env")
        #expect(try await first.run("systemctl enable --now rke2-server", timeout: 60).succeeded)
        let joiners = [try await fresh("lab37"), try await fresh("lab38")]
        for joiner in joiners {
            try await configure(joiner, "token: join-test\n")
            try await configure(joiner, "server: https://\(try Lab.node("lab36").address):9345\n", file: "/etc/rancher/rke2/config.yaml.d/10-server.yaml")
        }
        async let startA = joiners[0].run("systemctl start --no-block rke2-server")
        async let startB = joiners[1].run("systemctl start --no-block rke2-server")
        _ = try await (startA, startB)
        // The loser's RKE2 exits and systemd restarts it (Restart=always), as etcd's member-add refusal
        // does to a real second joiner; the winner comes up.
        var states: [UnitState] = []
        for _ in 0..<120 {
            states = []
            for joiner in joiners {
                states.append(UnitState(text: try await joiner.run("systemctl show -p ActiveState,SubState,NRestarts rke2-server").stdoutText))
            }
            if states.contains(where: { $0.active == "active" }) && states.contains(where: { $0.restarts >= 1 }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(states.contains { $0.active == "active" } && states.contains { $0.restarts >= 1 }, "\(states)")
        let loser = joiners[states.firstIndex { $0.restarts >= 1 } ?? 0]
        #expect(try await loser.run("journalctl -u rke2-server -n 5").stdoutText.contains("another server is joining"))
        for joiner in joiners {
            _ = try await joiner.run("systemctl stop rke2-server")
            await joiner.close()
        }
    }

    /// Kubernetes' version skew policy, as a real cluster enforces it by breaking: a server two minor
    /// versions away from the others does not start; one minor version away does. Nodes lab122-lab123.
    @Test func aServerTwoMinorVersionsAwayDoesNotStart() async throws {
        _ = try Lab.require(nodes: 123)
        let first = try await fresh("lab122")
        defer { Task { await first.close() } }
        try await configure(first, "token: skew-test\n")
        #expect(try await first.run("systemctl enable --now rke2-server", timeout: 60).succeeded)
        let joiner = try await fresh("lab123")
        defer { Task { await joiner.close() } }
        try await configure(joiner, "token: skew-test\nserver: https://\(try Lab.node("lab122").address):9345\n")
        // The same double, claiming v1.30: two minors from lab122's v1.28.
        _ = try await joiner.run("sed -i 's/v1.28.11+rke2r1/v1.30.2+rke2r1/g' /usr/local/bin/rke2")
        #expect(try await joiner.run("rke2 --version").stdoutText.hasPrefix("rke2 version v1.30.2+rke2r1 "))
        let refused = try await joiner.run("systemctl start rke2-server; echo \"start=$?\"; journalctl -u rke2-server -n 5", timeout: 60)
        #expect(refused.stdoutText.contains("start=1") && refused.stdoutText.contains("cannot run beside server lab122 at v1.28.11+rke2r1"),
                "\(refused.stdoutText)")
        _ = try await joiner.run("systemctl stop rke2-server")
        _ = try await joiner.run("sed -i 's/v1.30.2+rke2r1/v1.29.6+rke2r1/g' /usr/local/bin/rke2")
        // The refused attempt held the member-add lock for a moment: RKE2's restarts (Restart=always) retry.
        _ = try await joiner.run("systemctl start --no-block rke2-server")
        var state = ""
        for _ in 0..<120 where state != "active" {
            state = try await joiner.run("systemctl is-active rke2-server").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            if state != "active" { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(state == "active", "one minor version away joins")
        _ = try await joiner.run("systemctl stop rke2-server")
        _ = try await first.run("systemctl stop rke2-server")
    }

    @Test func theAPICertificateCarriesOnlyTheConfiguredNames() async throws {
        let connection = try await fresh("lab39")
        defer { Task { await connection.close() } }
        try await configure(connection, "token: t\ntls-san:\n  - api.lab.test\n")
        #expect(try await connection.run("systemctl enable --now rke2-server", timeout: 60).succeeded)
        let kubeconfig = try #require(try YAMLParser.parse(String(decoding: try await connection.download("/etc/rancher/rke2/rke2.yaml"), as: UTF8.self)))
        let caData = try #require(kubeconfig["clusters"]?.sequence?.first?["cluster"]?["certificate-authority-data"]?.scalar?.value)
        let ca = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-ca-\(UUID().uuidString).crt")
        try #require(Data(base64Encoded: caData)).write(to: ca)
        defer { try? FileManager.default.removeItem(at: ca) }
        let address = try Lab.node("lab39").address
        func get(_ name: String) throws -> Int32 {
            // curl here is the test's own probe of the double, not Parvester (which talks through libcurl).
            try LocalProcess.run("curl", ["-s", "-o", "/dev/null", "--cacert", ca.path, "--resolve", "\(name):6443:\(address)",
                                          "https://\(name):6443/readyz"]).status
        }
        #expect(try get("api.lab.test") == 0, "a tls-san name verifies")
        #expect(try get("localhost") == 0, "localhost is always there")
        #expect(try get("not-in-tls-san.lab.test") == 60, "curl's certificate verification failure")
        #expect(try LocalProcess.run("curl", ["-s", "-o", "/dev/null", "--cacert", ca.path, "https://\(address):6443/readyz"]).status == 0,
                "the node's address is in the certificate")
    }
}
