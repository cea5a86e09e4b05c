import Foundation
import Testing
@testable import ParvesterCore

/// The rules an upgrade checks before it changes anything, on their own (no nodes).
@Suite("upgrade rules")
struct UpgradeRulesTests {
    @Test func versionsOrderAsReleasesDo() throws {
        let versions = ["v1.28.11+rke2r1", "v1.28.11+rke2r2", "v1.29.0-rc1+rke2r1", "v1.29.0+rke2r1", "v1.29.6+rke2r1", "v1.30.2+rke2r1"]
        let parsed = try versions.map { try #require(RKE2Version($0)) }
        #expect(parsed == parsed.sorted())
        #expect(RKE2Version("v1.28.11") == nil && RKE2Version("1.28.11+rke2r1") == nil && RKE2Version("v1.28.11+k3s1") == nil)
    }

    @Test func downgradesAndSkippedMinorsAreRefusedWithThePath() throws {
        let v128 = try #require(RKE2Version("v1.28.11+rke2r1")), v129 = try #require(RKE2Version("v1.29.6+rke2r1"))
        let v130 = try #require(RKE2Version("v1.30.2+rke2r1")), v131 = try #require(RKE2Version("v1.31.1+rke2r1"))
        #expect(UpgradePath.problem(node: "n", running: v128, target: v129) == nil)
        #expect(UpgradePath.problem(node: "n", running: v128, target: v128) == nil)
        #expect(UpgradePath.problem(node: "n", running: v128, target: try #require(RKE2Version("v1.28.12+rke2r1"))) == nil)
        let skip = try #require(UpgradePath.problem(node: "n", running: v128, target: v130))
        #expect(skip.contains("v1.28 → v1.29 → v1.30") && skip.contains("one minor version at a time"), "\(skip)")
        #expect(try #require(UpgradePath.problem(node: "n", running: v128, target: v131)).contains("v1.28 → v1.29 → v1.30 → v1.31"))
        let down = try #require(UpgradePath.problem(node: "n", running: v129, target: v128))
        #expect(down.contains("cannot be downgraded") && down.contains("snapshot"), "\(down)")
        #expect(UpgradePath.problem(node: "n", running: try #require(RKE2Version("v1.28.11+rke2r2")), target: v128) != nil, "a lower revision is a downgrade too")
    }

    @Test func maxUnavailableIsACountOrAPercentageOfTheAgents() {
        #expect(MaxUnavailable.parse("1") == .count(1) && MaxUnavailable.parse("10%") == .percent(10))
        #expect(MaxUnavailable.parse("0") == nil && MaxUnavailable.parse("0%") == nil && MaxUnavailable.parse("101%") == nil && MaxUnavailable.parse("x") == nil)
        #expect(MaxUnavailable.percent(10).batchSize(of: 47) == 4)
        #expect(MaxUnavailable.percent(10).batchSize(of: 5) == 1, "never below one node")
        #expect(MaxUnavailable.count(3).batchSize(of: 2) == 2)
    }

    @Test func theUpgradeSectionIsReadAndCheckedWithItsPosition() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("upgrade-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = "cluster: {name: c, address: 10.0.0.1}\nnodes:\n  - {name: a, address: 10.0.0.1, role: server}\n"
        let good = directory.appendingPathComponent("good.yaml").path
        try (base + "upgrade: {maxUnavailable: \"25%\", drain: true, vms: stop}\n").write(toFile: good, atomically: true, encoding: .utf8)
        let inventory = try InventoryLoader.load(path: good)
        #expect(inventory.upgrade == UpgradeSettings(maxUnavailable: .percent(25), drain: true, vms: .stop))
        let bad = directory.appendingPathComponent("bad.yaml").path
        try (base + "upgrade: {maxUnavailable: 0, drian: true}\n").write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: InventoryError.self) { try InventoryLoader.load(path: bad) }
        do { _ = try InventoryLoader.load(path: bad) } catch let error as InventoryError {
            let text = error.problems.map(\.description).joined(separator: "\n")
            #expect(text.contains("bad.yaml:4:") && text.contains("maxUnavailable") && text.contains("drian"), "\(text)")
        }
    }

    @Test func optionsAClusterCannotChangeAreFoundWhateverTheirSpelling() {
        let current = "token: x\ncluster-cidr: 10.42.0.0/16\ncni: [multus, canal]\nnode-label: [a=b]\n"
        #expect(ImmutableRKE2Options.changes(current: current, next: "token: y\ncluster-cidr: 10.42.0.0/16\ncni: multus,canal\nnode-label: [c=d]\n", file: "f").isEmpty,
                "a list and a comma-separated string of the same plugins are equal; other options may change")
        let changed = ImmutableRKE2Options.changes(current: current, next: "cluster-cidr: 10.99.0.0/16\ncni: [cilium]\nservice-cidr: 10.98.0.0/16\n", file: "n1:/etc/rancher/rke2/config.yaml")
        #expect(changed.count == 3, "\(changed)")
        #expect(changed.contains { $0.contains("cluster-cidr would change from \"10.42.0.0/16\" to \"10.99.0.0/16\" in n1:/etc/rancher/rke2/config.yaml") })
        #expect(changed.contains { $0.hasPrefix("service-cidr would change from unset") })
        #expect(ImmutableRKE2Options.changes(current: "token: x\n", next: "cni: [multus, canal]\n", file: "f").isEmpty,
                "RKE2's packaged Multus added in front of the default canal")
        #expect(ImmutableRKE2Options.changes(current: "token: x\n", next: "cni: [multus, cilium]\n", file: "f").count == 1)
    }

    @Test func theAirgapTarballNamesItsRelease() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("artifacts-\(UUID().uuidString)")
        let bin = directory.appendingPathComponent("tree/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A binary-like file: the release string once among a megabyte of noise, and an image tag
        // (-rke2r1-build, not +rke2r1) that must not count.
        var data = Data((0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        data.append(Data("rancher/hardened-kubernetes:v1.29.6-rke2r1-build20240619 \0version=v1.29.6+rke2r1\0".utf8))
        data.append(Data((0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 104729) }))
        try data.write(to: bin.appendingPathComponent("rke2"))
        try Data("other".utf8).write(to: directory.appendingPathComponent("tree/README"))
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["-czf", directory.appendingPathComponent("rke2.linux-amd64.tar.gz").path, "-C", directory.appendingPathComponent("tree").path, "README", "bin/rke2"]
        try tar.run()
        tar.waitUntilExit()
        #expect(try AirgapArtifactsVersion.read(directory: directory.path) == "v1.29.6+rke2r1")
        try Data("not gzip".utf8).write(to: directory.appendingPathComponent("rke2.linux-amd64.tar.gz"))
        #expect(throws: AirgapArtifactsVersion.Unreadable.self) { try AirgapArtifactsVersion.read(directory: directory.path) }
    }

    @Test func certificateDatesAreReadFromPEM() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("certs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var pem = ""
        for days in [10, 400] {
            let out = directory.appendingPathComponent("c\(days).crt").path
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", out + ".key",
                                 "-out", out, "-days", String(days), "-subj", "/CN=t"]
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            pem += try String(contentsOfFile: out, encoding: .utf8)
        }
        let found = CertificatesPhase.parse("#file /a.crt\n" + pem + "#file /empty.crt\n", node: "s1")
        #expect(found.map(\.file) == ["/a.crt", "/a.crt"])
        #expect(found.map { $0.daysLeft() }.sorted() == [9, 399], "\(found.map { $0.daysLeft() })")
    }
}
