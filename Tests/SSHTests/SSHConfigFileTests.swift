import Foundation
import Testing
@testable import ParvesterCore
@testable import SSH

@Suite("~/.ssh/config and ProxyJump")
struct SSHConfigFileTests {
    static let config = SSHConfigFile(text: """
        # global options apply to every host
        IdentityFile ~/.ssh/global_key

        Host cp-* !cp-legacy
          User ops
          Port 2200
          IdentityFile %d/.ssh/cp_%h
          ProxyJump jump@bastion.example:2222

        Host cp-1
          User ignored-because-first-value-wins
          HostName 10.20.0.11

        Host=web?
          HostName "web-%h.internal"

        Match host *
          User from-match-block-ignored
        """)

    @Test func firstValueWinsAndPatternsMatch() {
        let cp1 = Self.config.settings(for: "cp-1")
        #expect(cp1.user == "ops")
        #expect(cp1.port == 2200)
        #expect(cp1.hostName == "10.20.0.11")
        #expect(cp1.proxyJump == "jump@bastion.example:2222")
        #expect(cp1.identityFiles == [NSHomeDirectory() + "/.ssh/global_key", NSHomeDirectory() + "/.ssh/cp_cp-1"])
    }

    @Test func negatedPatternsExcludeAHost() {
        let legacy = Self.config.settings(for: "cp-legacy")
        #expect(legacy.user == nil)
        #expect(legacy.proxyJump == nil)
    }

    @Test func questionMarkAndQuotedValues() {
        #expect(Self.config.settings(for: "web1").hostName == "web-web1.internal")
        #expect(Self.config.settings(for: "web12").hostName == nil)
    }

    @Test func globMatching() {
        #expect(SSHConfigFile.glob("*.example.com", "a.example.com"))
        #expect(SSHConfigFile.glob("10.0.*.1", "10.0.33.1"))
        #expect(!SSHConfigFile.glob("10.0.*.1", "10.0.33.2"))
        #expect(SSHConfigFile.glob("NODE?", "node7"), "case-insensitive, as OpenSSH")
    }

    @Test func proxyJumpForms() throws {
        #expect(try JumpHost.parse("bastion") == JumpHost(user: nil, host: "bastion", port: nil))
        #expect(try JumpHost.parse("ops@bastion:2222") == JumpHost(user: "ops", host: "bastion", port: 2222))
        #expect(try JumpHost.parse("[fd00::1]:22") == JumpHost(user: nil, host: "fd00::1", port: 22))
        #expect(try JumpHost.parse("none") == nil)
        #expect(throws: SSHError.self) { try JumpHost.parse("a,b") }
    }

    @Test func theInventoryWinsOverTheConfig() throws {
        let inventory = try InventoryLoader.load(bytes: Array("""
            cluster: {name: c, address: 10.0.0.1}
            ssh: {knownHostsFile: /tmp/kh}
            nodes:
              - {name: cp-1, address: cp-1, role: server}
              - {name: cp-2, address: cp-2, role: agent, ssh: {user: admin, port: 22}}
              - {name: cp-3, address: cp-3, role: agent, ssh: {bastion: {address: other-bastion, user: b}}}
            """.utf8), file: "inline.yaml", baseDirectory: "/")
        let settings = ConnectionSettings(sshConfig: Self.config)
        let one = try SSHTargetResolver.target(for: inventory.nodes[0], settings: settings)
        #expect(one.endpoint == SSHEndpoint(host: "10.20.0.11", port: 2200, name: "cp-1"))
        #expect(one.credentials.user == "ops")
        #expect(one.jump?.endpoint.host == "bastion.example")
        #expect(one.jump?.endpoint.port == 2222)
        #expect(one.jump?.credentials.user == "jump")
        #expect(one.options.knownHostsPath == "/tmp/kh")

        let two = try SSHTargetResolver.target(for: inventory.nodes[1], settings: settings)
        #expect(two.credentials.user == "admin", "user set in the inventory wins")
        #expect(two.endpoint.port == 22, "port set in the inventory wins")

        let three = try SSHTargetResolver.target(for: inventory.nodes[2], settings: settings)
        #expect(three.jump?.endpoint.host == "other-bastion", "the inventory's bastion wins over ProxyJump")
        #expect(three.jump?.credentials.user == "b")
    }
}
