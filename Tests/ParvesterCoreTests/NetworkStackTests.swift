import Foundation
import Testing
@testable import ParvesterCore

/// Which stack owns an uplink, and what each one's bridge change writes and runs, from facts alone.
@Suite("Network stacks")
struct NetworkStackTests {
    func facts(files: [(String, String)] = [], active: [String] = [], nm: [String: (String, String)] = [:], mac: String = "52:54:00:12:34:56") -> NodeFacts {
        var facts = NodeFacts()
        facts.networkFiles = files.map { (path: $0.0, content: $0.1) }
        for unit in active { facts.active[unit] = "active" }
        facts.networkManagerDevices = nm.mapValues { (state: $0.0, connection: $0.1) }
        facts.macAddresses = ["eth0": mac]
        facts.ifupdownBridgeSupport = true
        return facts
    }

    @Test func theOwnerIsNetplanThenNetworkManagerThenIfupdownThenNetworkd() {
        let netplan = ("/etc/netplan/50-cloud-init.yaml", "network:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: true}\n")
        let ifupdown = ("/etc/network/interfaces", "auto eth0\niface eth0 inet dhcp\n")
        let networkd = ("/etc/systemd/network/10-eth0.network", "[Match]\nName=eth*\n[Network]\nDHCP=yes\n")
        #expect(NetworkStack.owner(of: "eth0", facts(files: [netplan, ifupdown, networkd], active: ["systemd-networkd"])) == .netplan)
        #expect(NetworkStack.owner(of: "eth0", facts(files: [ifupdown], active: ["NetworkManager"], nm: ["eth0": ("connected", "Wired connection 1")])) == .networkManager)
        #expect(NetworkStack.owner(of: "eth0", facts(files: [ifupdown, networkd], active: ["systemd-networkd"])) == .ifupdown)
        #expect(NetworkStack.owner(of: "eth0", facts(files: [networkd], active: ["systemd-networkd"])) == .networkd, "a glob matches")
        #expect(NetworkStack.owner(of: "eth0", facts(files: [networkd])) == .none, "networkd's files with networkd not running")
        #expect(NetworkStack.owner(of: "eth1", facts(files: [netplan, ifupdown])) == .none)
    }

    @Test func aDHCPUplinkUnderNetworkdMovesWithItsMAC() throws {
        let file = ("/etc/systemd/network/10-eth0.network", "[Match]\nName=eth0\n[Network]\nDHCP=ipv4\nDNS=192.0.2.53\n")
        let change = try #require(try BridgeChangeRenderer(bridge: "br0", uplink: "eth0", moveAddresses: true, facts: facts(files: [file], active: ["systemd-networkd"]))
            .change(.networkd))
        let contents = Dictionary(uniqueKeysWithValues: change.files.map { ($0.path, $0.content) })
        #expect(contents["/etc/systemd/network/05-parvester-br0.netdev"]?.contains("Kind=bridge\nMACAddress=52:54:00:12:34:56") == true)
        #expect(contents["/etc/systemd/network/05-parvester-br0.network"]?.contains("DHCP=ipv4\nDNS=192.0.2.53") == true)
        #expect(contents["/etc/systemd/network/05-parvester-br0-uplink.network"]?.contains("Name=eth0\n\n[Network]\nBridge=br0") == true)
        #expect(change.moved?.dhcp4 == true && !change.current)
        #expect(change.apply.contains("networkctl reconfigure eth0"))
    }

    @Test func netplanMovesStaticAddressesRoutesAndDNSToTheBridge() throws {
        let file = ("/etc/netplan/01-netcfg.yaml", """
            network:
              version: 2
              ethernets:
                eth0:
                  match: {macaddress: "52:54:00:12:34:56"}
                  set-name: eth0
                  addresses: [192.0.2.10/24]
                  routes: [{to: default, via: 192.0.2.1}]
                  nameservers: {addresses: [192.0.2.53], search: [lab.example]}

            """)
        let change = try #require(try BridgeChangeRenderer(bridge: "br0", uplink: "eth0", moveAddresses: true, facts: facts(files: [file])).change(.netplan))
        let ours = try #require(change.files.first { $0.path == "/etc/netplan/90-parvester-br0.yaml" })
        #expect(ours.mode == 0o600)
        for expected in ["bridges:", "br0:", "- eth0", "- 192.0.2.10/24", "via: 192.0.2.1", "- lab.example"] {
            #expect(ours.content.contains(expected), "\(expected) in \(ours.content)")
        }
        let rewritten = try #require(change.files.first { $0.path == "/etc/netplan/01-netcfg.yaml" }).content
        #expect(rewritten.contains("set-name: eth0") && rewritten.contains("dhcp4: false") && !rewritten.contains("192.0.2.10"), "\(rewritten)")
        #expect(change.moved == AddressConfig(addresses: ["192.0.2.10/24"], gateway4: "192.0.2.1", dns: ["192.0.2.53"], searchDomains: ["lab.example"]))
    }

    @Test func ifupdownTurnsTheUplinkManualAndGivesTheBridgeItsStanza() throws {
        let interfaces = "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n\nallow-hotplug eth0\niface eth0 inet dhcp\n    dns-nameservers 192.0.2.53\n"
        let change = try #require(try BridgeChangeRenderer(bridge: "br0", uplink: "eth0", moveAddresses: true,
                                                           facts: facts(files: [("/etc/network/interfaces", interfaces)])).change(.ifupdown))
        let stanza = try #require(change.files.first { $0.path == "/etc/network/interfaces.d/parvester-br0" }).content
        #expect(stanza.contains("auto br0\niface br0 inet dhcp\n    dns-nameservers 192.0.2.53\n    hwaddress ether 52:54:00:12:34:56\n    bridge_ports eth0"), "\(stanza)")
        let main = try #require(change.files.first { $0.path == "/etc/network/interfaces" }).content
        #expect(main.contains("iface eth0 inet manual") && !main.contains("dns-nameservers") && main.contains("iface lo inet loopback"), "\(main)")
        var without = facts(files: [("/etc/network/interfaces", interfaces)])
        without.ifupdownBridgeSupport = false
        #expect(throws: HostRefused.self) { try BridgeChangeRenderer(bridge: "br0", uplink: "eth0", moveAddresses: true, facts: without).change(.ifupdown) }
    }

    @Test func networkManagerGetsABridgeAndAPortAndTheRollbackBringsTheOldConnectionBack() throws {
        let nm = facts(active: ["NetworkManager"], nm: ["eth0": ("connected", "Wired connection 1")])
        let change = try #require(try BridgeChangeRenderer(bridge: "br0", uplink: "eth0", moveAddresses: true, facts: nm).change(.networkManager))
        #expect(change.apply.contains("nmcli -g \"$1\" connection show 'Wired connection 1'"))
        #expect(change.apply.contains("con-name parvester-br0 bridge.stp no ipv4.method \"$m4\""))
        #expect(change.apply.contains("slave-type bridge master br0 ifname eth0 con-name parvester-br0-port"))
        #expect(change.apply.contains("nmcli connection modify 'Wired connection 1' connection.autoconnect no"))
        #expect(change.restore.contains("nmcli connection delete parvester-br0-port parvester-br0")
                && change.restore.contains("nmcli connection up 'Wired connection 1'"))
        let done = facts(active: ["NetworkManager"], nm: ["eth0": ("connected", "parvester-br0-port"), "br0": ("connected", "parvester-br0")])
        #expect(try BridgeChangeRenderer(bridge: "br0", uplink: "eth0", moveAddresses: true, facts: done).change(.networkManager)?.current == true)
    }

    @Test func theRollbackScriptRestoresEachFileOrRemovesTheNewOnesUnderTheLock() throws {
        let change = BridgeChange(stack: .netplan, files: [RenderedFile(path: "/etc/netplan/90-parvester-br0.yaml", content: "x", mode: 0o600, holdsSecret: false),
                                                          RenderedFile(path: "/etc/netplan/01 net.yaml", content: "y", mode: 0o600, holdsSecret: false)],
                                  apply: "netplan apply", restore: "netplan apply", moved: nil, current: false)
        let transaction = NetworkTransaction(change: change, bridge: "br0", uplink: "eth0", rollbackAfter: 60)
        let script = transaction.rollbackScript
        #expect(script.contains("exec 9>\"$d/lock\"; flock 9\n[ -f \"$d/pending\" ] || exit 0"))
        #expect(script.contains("if [ -f \"$d/backup/1\" ]; then cp -p \"$d/backup/1\" '/etc/netplan/01 net.yaml'.parvester-tmp"))
        #expect(script.contains("else rm -f /etc/netplan/90-parvester-br0.yaml; fi"))
        let prepare = transaction.prepare(now: Date(timeIntervalSince1970: 1000))
        #expect(prepare.contains("echo 'br0 eth0 netplan 1060' > /var/lib/parvester/network-transaction/pending"))
        #expect(prepare.contains("systemd-run --quiet --unit=parvester-network-rollback --on-active=60"))
        let pending = try #require(NetworkTransaction.Pending("br0 eth0 netplan 1060"))
        #expect(pending.deadline == 1060 && pending.stack == "netplan")
        #expect(NetworkTransaction.confirm.contains("[ -f /var/lib/parvester/network-transaction/pending ] || exit 3"))
    }
}

/// What the bridges phase decides from a node's facts, including a change an earlier run left armed.
@Suite("Bridge decisions")
struct BridgeDecisionTests {
    /// cp1 (uplink eth1) under systemd-networkd, with Parvester's files already in place or not.
    func context(ours: Bool, linked: Bool, pending: Bool, timer: Bool) throws -> (RunContext, Node) {
        let context = try ScriptedRun.context(nodes: ScriptedNodes(), observer: RecordingObserver())
        let node = context.inventory.nodes[0]
        var facts = NodeFacts()
        facts.active = ["systemd-networkd": "active", NetworkTransaction.timerUnit + ".timer": timer ? "active" : "inactive"]
        facts.networkFiles = [(path: "/etc/systemd/network/50-eth1.network", content: "[Match]\nName=eth1\n")]
        if ours {
            let change = try #require(try BridgeChangeRenderer(bridge: "br0", uplink: "eth1", moveAddresses: false, facts: facts).change(.networkd))
            facts.networkFiles += change.files.map { (path: $0.path, content: $0.content) }
        }
        facts.links = ["br0": .init(name: "br0", up: true, master: nil, isBridge: true, addresses: []),
                       "eth1": .init(name: "eth1", up: true, master: linked ? "br0" : nil, isBridge: false, addresses: [])]
        if pending { facts.networkPending = "br0 eth1 systemd-networkd \(Int(Date().timeIntervalSince1970) + 30)" }
        context.setFacts(facts, for: node)
        return (context, node)
    }

    func decision(_ context: RunContext, _ node: Node) throws -> String {
        switch try BridgePhase.work(context, node) {
        case .none: "none"
        case .setUp: "oneshot"
        case .retire: "retire"
        case .stack(let change, _, _): change.current ? "retire-unit" : "switch"
        case .confirm: "confirm"
        case .recover: "recover"
        }
    }

    @Test func aNodeUnderNetworkdGetsItsFilesOnceAndThenNothing() throws {
        let (fresh, node) = try context(ours: false, linked: false, pending: false, timer: false)
        #expect(try decision(fresh, node) == "switch")
        let (done, same) = try context(ours: true, linked: true, pending: false, timer: false)
        #expect(try decision(done, same) == "none")
    }

    @Test func aChangeLeftArmedIsConfirmedWhenInPlaceWaitedForWhileItsTimerRunsAndRolledBackOtherwise() throws {
        let (inPlace, a) = try context(ours: true, linked: true, pending: true, timer: true)
        #expect(try decision(inPlace, a) == "confirm", "killed after the switch worked: confirm it")
        let (rolling, b) = try context(ours: true, linked: false, pending: true, timer: true)
        #expect(throws: HostRefused.self, "not in place and the timer will roll it back: leave the node to it") { try decision(rolling, b) }
        let (neverArmed, c) = try context(ours: false, linked: false, pending: true, timer: false)
        #expect(try decision(neverArmed, c) == "recover", "killed between the marker and the timer: roll back now, then switch")
        let (confirmedHalf, d) = try context(ours: true, linked: true, pending: true, timer: false)
        #expect(try decision(confirmedHalf, d) == "confirm", "killed inside the confirm (timer stopped, marker left): finish it")
    }

    @Test func anUplinkNothingConfiguresGetsTheOneshotUnit() throws {
        let (context, node) = try self.context(ours: false, linked: false, pending: false, timer: false)
        var facts = try #require(context.facts(node))
        facts.active["systemd-networkd"] = "inactive"
        context.setFacts(facts, for: node)
        #expect(try decision(context, node) == "oneshot")
    }
}
