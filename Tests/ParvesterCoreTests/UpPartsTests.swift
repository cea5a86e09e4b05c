import Foundation
import Testing
@testable import ParvesterCore

/// The parts of `up` that need no node: the facts parser, the diff, tokens, the state directory.
@Suite("Parts of up that need no node")
struct UpPartsTests {
    /// The probe's own format: keyed lines, then the raw output of sha256sum and ip in sections.
    @Test func factsAreParsedFromRawToolOutput() {
        let output = [
            "ssh\t10.251.0.1 40022 10.251.0.11 22",
            "os\tdebian 12", "arch\tx86_64", "rke2\tv1.28.11+rke2r1",
            "units\trke2-server rke2-agent parvester-bridge-br0.service", "states\tactive inactive",
            "enabled\trke2-server enabled", "token\tpresent",
            "link\tlo 1 no", "link\teth1 1 no", "link\tbr0 0 yes", "port\tbr0 eth1",
            "section\thashes",
            "427f93cafd9cc19be6eec03e590c9c6cdf9f688a5eaf21fa8d72351e2b15fd05  /etc/rancher/rke2/config.yaml",
            "section\taddrs",
            "2: eth0    inet 10.251.0.11/16 brd 10.251.255.255 scope global eth0\\       valid_lft forever",
            "2: eth0    inet6 fd00:251::b/64 scope global \\       valid_lft forever",
            "section\tvhv", "-absent-",
        ].joined(separator: "\n")
        let facts = FactsProbe.parse(output)
        #expect(facts.sshAddress == "10.251.0.11")
        #expect(facts.isActive("rke2-server") && facts.active["rke2-agent"] == "inactive")
        #expect(facts.active["parvester-bridge-br0.service"] == "unknown", "a unit systemctl gave no line for")
        #expect(facts.fileHashes == ["/etc/rancher/rke2/config.yaml": "427f93cafd9cc19be6eec03e590c9c6cdf9f688a5eaf21fa8d72351e2b15fd05"])
        #expect(facts.links["eth1"] == NodeFacts.Link(name: "eth1", up: true, master: "br0", isBridge: false, addresses: []))
        #expect(facts.links["br0"] == NodeFacts.Link(name: "br0", up: false, master: nil, isBridge: true, addresses: []))
        #expect(facts.links["lo"]?.up == true && facts.links["lo"]?.isBridge == false)
        #expect(facts.link(carrying: "10.251.0.11")?.name == "eth0" && facts.link(carrying: "fd00:251::b")?.name == "eth0")
        #expect(facts.virtHostValidate == nil && facts.hasNodeToken)
    }

    @Test func aNodeWithoutRKE2OrVirtHostValidate() {
        let facts = FactsProbe.parse("rke2\t\nunits\trke2-server\nstates\tinactive\nsection\tvhv\n-absent-\n")
        #expect(facts.rke2Version == nil)
        #expect(facts.virtHostValidate == nil)
        #expect(!facts.hasNodeToken)
    }

    @Test func theDiffShowsChangedLinesWithContext() {
        let old = "token: a\nnode-name: n1\ntls-san:\n- 10.0.0.1\nwrite-kubeconfig-mode: '0644'\n"
        let new = "token: a\nnode-name: n1\ntls-san:\n- 10.0.0.1\n- api.example\nwrite-kubeconfig-mode: '0644'\n"
        #expect(LineDiff.unified(old, new) == "  - 10.0.0.1\n+ - api.example\n  write-kubeconfig-mode: '0644'")
        #expect(LineDiff.unified("a\nb\n", "a\nc\n") == "  a\n- b\n+ c\n  ")
        #expect(LineDiff.unified("same\n", "same\n") == "")
    }

    @Test func tokensAreMaskedInDiffsWhateverTheirValue() {
        let text = "server: https://x:9345\ntoken: old-secret\n  agent-token: other\nnode-name: a\n"
        #expect(PushConfigPhase.redacted(text) == "server: https://x:9345\ntoken: ********\n  agent-token: ********\nnode-name: a\n")
    }

    @Test func rke2TokensCompareByTheirSecretPart() {
        #expect(TokenResolver.secretPart("K10" + String(repeating: "ab", count: 32) + "::server:s3cret") == "s3cret")
        #expect(TokenResolver.secretPart("plain-token") == "plain-token")
        #expect(TokenResolver.secretPart("K10abc::node:x:y") == "x:y")
        let generated = try? TokenResolver.randomHex(bytes: 32)
        #expect(generated?.count == 64 && generated?.allSatisfy(\.isHexDigit) == true)
        #expect(generated != (try? TokenResolver.randomHex(bytes: 32)))
    }

    @Test func theStateDirectoryFollowsTheEnvironment() {
        #expect(StateDirectory.default(cluster: "c", environment: ["PARVESTER_STATE_DIR": "/s"]).path == "/s/c")
        #expect(StateDirectory.default(cluster: "c", environment: ["XDG_STATE_HOME": "/x"]).path == "/x/parvester/c")
        #expect(StateDirectory.default(cluster: "c", environment: [:]).path.hasSuffix("/.local/state/parvester/c"))
    }

    @Test func stateFilesAreWrittenAtomicallyWithMode0600() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-state-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = StateDirectory(path: directory.path + "/c")
        try state.write(Data("one\n".utf8), to: state.tokenPath)
        try state.write(Data("two\n".utf8), to: state.tokenPath)
        #expect(state.read(state.tokenPath) == Data("two\n".utf8))
        #expect(try FileManager.default.attributesOfItem(atPath: state.tokenPath)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: state.path)[.posixPermissions] as? Int == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: state.path) == ["token"], "no temporary file left")
    }

    /// Another local user who can plant files must not steer where the token or kubeconfig land.
    @Test func plantedLinksAndOpenDirectoriesAreRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-state-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = StateDirectory(path: directory.path + "/c")
        try state.write(Data("{}".utf8), to: state.lastRunPath)
        let victim = directory.appendingPathComponent("victim").path
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))

        // A link under the name of the temporary file the old code used, and under the file itself.
        try FileManager.default.createSymbolicLink(atPath: state.lastRunPath + ".tmp-\(getpid())", withDestinationPath: victim)
        try state.write(Data("{\"run\": 2}".utf8), to: state.lastRunPath)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        try FileManager.default.removeItem(atPath: state.lastRunPath)
        try FileManager.default.createSymbolicLink(atPath: state.lastRunPath, withDestinationPath: victim)
        let linked = #expect(throws: StateError.self) { try state.write(Data("{}".utf8), to: state.lastRunPath) }
        #expect(linked?.description.contains("is a symbolic link") == true)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(state.read(state.lastRunPath) == nil, "reads do not follow links either")
        try FileManager.default.removeItem(atPath: state.lastRunPath)

        // A file someone else owns is not silently replaced.
        try Data("planted".utf8).write(to: URL(fileURLWithPath: state.kubeconfigPath))
        if geteuid() == 0 {
            try #require(chown(state.kubeconfigPath, 65534, 65534) == 0)
            let owned = #expect(throws: StateError.self) { try state.write(Data("k".utf8), to: state.kubeconfigPath) }
            #expect(owned?.description.contains("belongs to uid 65534") == true)
        }

        // A directory every user can write is refused, not used as it is.
        try #require(chmod(state.path, 0o777) == 0)
        let open = #expect(throws: StateError.self) { try state.write(Data("t".utf8), to: state.tokenPath) }
        #expect(open?.description.contains("is writable by every user (mode 777)") == true)
        #expect(!FileManager.default.fileExists(atPath: state.tokenPath))
    }

    @Test func sha256MatchesCoreutils() throws {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

/// Long steps say what they wait for, also when nobody watches a terminal.
@Suite("Progress lines of long steps")
struct StepActivityTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    @Test func aWaitIsReportedByWhatItWaitsForNotByItsPollingCommands() async throws {
        let lines = Lines()
        try await StepActivity.reporting(every: 0.05, { lines.add($0) }) {
            try await StepActivity.waiting(for: "rke2-agent active", limit: 600) {
                // Wait on the condition (two reports), with a generous limit that names it.
                for _ in 0..<2000 where lines.all.count < 2 {
                    StepActivity.doing("running `systemctl show rke2-agent`", limit: 120)
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        try #require(lines.all.count >= 2, "two progress lines within 20 s")
        #expect(lines.all.allSatisfy { $0.hasPrefix("still waiting for rke2-agent active, ") && $0.hasSuffix(" s of 600 s") }, "\(lines.all)")
    }

    @Test func aCommandOutsideAWaitIsReportedWithItsTimeout() async throws {
        let lines = Lines()
        await StepActivity.reporting(every: 0.05, { lines.add($0) }) {
            StepActivity.doing("running `install RKE2`", limit: 120)
            for _ in 0..<2000 where lines.all.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(lines.all.first?.hasPrefix("still running `install RKE2`, ") == true && lines.all.first?.hasSuffix(" s of 120 s") == true, "\(lines.all)")
    }
}
