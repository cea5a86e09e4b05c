import Foundation
import TestSupport
import Testing

/// The bridge owned by each node's network stack, against the lab's network-stack doubles
/// (doubles/netdouble.py) and simulated reboots (`lab.py boot`): systemd-networkd taking a port out of a
/// bridge its files do not name (the oneshot unit's bridge does not survive a boot under it, Parvester's
/// networkd files do); single-NIC nodes whose address moves to the bridge through netplan and ifupdown;
/// the rollback when Parvester cannot reconnect, and after a SIGKILL. Nodes lab131-lab133.
@Suite("Bridges owned by the network stack", .enabled(if: !Lab.skipped, Lab.skipReason))
struct BridgeStackTests {
    static func ports(_ node: String) async throws -> String { try await Lab.shell(node, "ip -o link show master br0 | cut -d: -f2 | cut -d@ -f1 | tr -d ' '; true") }

    static func bridgeStep(_ run: UpCluster.Run, _ node: String) -> (outcome: String, detail: String) {
        let step = run.steps.last { $0["phase"] as? String == "bridges" && $0["target"] as? String == node }
        return (step?["outcome"] as? String ?? "none", step?["detail"] as? String ?? "")
    }

    /// Removes what an earlier run of these tests left on a node's network, over no SSH (its address may
    /// sit on a bridge): the configuration files go, and a simulated boot gives eth0 the lab's addresses.
    static func cleanNetwork(_ node: String) async throws { try Lab.boot(node, reset: true) }

    @Test func underSystemdNetworkdTheBridgeSurvivesABootOnlyInNetworkdsOwnFiles() async throws {
        _ = try Lab.require(nodes: 131)
        try await Self.cleanNetwork("lab131")
        let cluster = try await UpCluster.make("networkd", [.init(name: "lab131", role: "server")])
        // Nothing configures eth1 yet: Parvester makes the bridge with its oneshot unit.
        let first = try await cluster.up(["--output", "json"])
        #expect(first.status == 0 && Self.bridgeStep(first, "lab131").detail.contains("br0 with eth1"), "\(first.stdout.suffix(1500))")

        // Now systemd-networkd runs with a file for eth1 (as cloud images ship one for a second NIC).
        _ = try await Lab.shell("lab131", """
            printf '[Match]\\nName=eth1\\n\\n[Network]\\nLinkLocalAddressing=no\\n' > /etc/systemd/network/50-eth1.network
            printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/systemd-networkd.service
            systemctl daemon-reload && systemctl enable --now systemd-networkd
            """)
        // The double behaves as networkd: after a boot, the oneshot unit's bridge has lost its port.
        try Lab.boot("lab131")
        #expect(try await Self.ports("lab131").isEmpty, "networkd took eth1 out of br0")

        // up hands the bridge to networkd, confirms, and retires the oneshot unit.
        let second = try await cluster.up(["--output", "json"])
        let step = Self.bridgeStep(second, "lab131")
        #expect(second.status == 0 && step.outcome == "changed" && step.detail.contains("through systemd-networkd, confirmed; removed the oneshot unit"),
                "\(second.stdout.suffix(1500))")
        #expect(try await Lab.shell("lab131", "ls /etc/systemd/network; ls /etc/systemd/system").contains("05-parvester-br0-uplink.network"))
        #expect(!(try await Lab.shell("lab131", "ls /etc/systemd/system")).contains("parvester-bridge-br0.service"))
        #expect(try await Self.ports("lab131") == "eth1\n")
        try Lab.boot("lab131")
        #expect(try await Self.ports("lab131") == "eth1\n", "after a boot, networkd's own files keep eth1 in br0")
        let third = try await cluster.up(["--output", "json"])
        #expect(Self.bridgeStep(third, "lab131").outcome == "unchanged", "\(third.stdout.suffix(800))")
        try await Self.cleanNetwork("lab131")
    }

    @Test func aSingleNICNodeMovesItsAddressThroughNetplanAndSurvivesAKillAndABoot() async throws {
        let lab = try Lab.require(nodes: 132)
        let node = lab.nodes.first { $0.name == "lab132" }!
        try await Self.cleanNetwork("lab132")
        // One NIC: eth0 carries the SSH address; netplan configures it.
        let original = """
            network:
              version: 2
              ethernets:
                eth0:
                  addresses: [\(node.address)/16, "\(node.address6)/64"]

            """
        _ = try await Lab.shell("lab132", "ip link del eth1 2>/dev/null; printf '%s' '\(original)' > /etc/netplan/50-cloud-init.yaml; chmod 600 /etc/netplan/50-cloud-init.yaml")
        var cluster = try await UpCluster.make("netplan", [.init(name: "lab132", role: "server")])
        cluster.bridge = "bridge: {uplink: eth0, moveAddresses: true, rollbackAfter: 30s}"
        try cluster.writeInventory()

        // Killed while the change applies: the node rolls itself back when the timer fires.
        let killed = try await cluster.upStreaming(["-v"]) { line, pid in
            if line.contains("apply the netplan configuration") { kill(pid, SIGKILL) }
        }
        #expect(killed.status != 0, "killed")
        try await Lab.waitFor("lab132's rollback timer to fire and restore netplan", limit: 120) {
            try await !Lab.shell("lab132", "ls /etc/netplan").contains("90-parvester")
        }
        #expect(try await Lab.shell("lab132", "cat /etc/netplan/50-cloud-init.yaml") == original, "the file as it was")
        #expect(try await Lab.shell("lab132", "ip -o addr show dev eth0").contains(node.address + "/16"), "the address back on eth0")

        // Run again: the address moves to br0, confirmed; a boot keeps it there; a third run changes nothing.
        let moved = try await cluster.up(["--output", "json"])
        let step = Self.bridgeStep(moved, "lab132")
        #expect(moved.status == 0 && step.detail.contains("eth0's addresses moved to br0 through netplan, confirmed"), "\(moved.stdout.suffix(2000))")
        #expect(try await Lab.shell("lab132", "ip -o addr show dev br0").contains(node.address + "/16"))
        #expect(try await Self.ports("lab132") == "eth0\n")
        let rewritten = try await Lab.shell("lab132", "cat /etc/netplan/50-cloud-init.yaml /etc/netplan/90-parvester-br0.yaml; ls /var/lib/parvester/network-backup")
        #expect(rewritten.contains("dhcp4: false") && rewritten.contains("bridges:") && rewritten.contains("\(node.address)/16"), "\(rewritten)")
        try Lab.boot("lab132")
        #expect(try await Lab.shell("lab132", "ip -o addr show dev br0").contains(node.address + "/16"), "netplan's files put it back at boot")
        let again = try await cluster.up(["--output", "json"])
        #expect(again.status == 0 && Self.bridgeStep(again, "lab132").outcome == "unchanged", "\(again.stdout.suffix(1000))")
    }

    @Test func aSingleNICNodeUnderIfupdownRollsBackWhenTheReconnectFailsThenMoves() async throws {
        let lab = try Lab.require(nodes: 133)
        let node = lab.nodes.first { $0.name == "lab133" }!
        try await Self.cleanNetwork("lab133")
        let original = """
            auto lo
            iface lo inet loopback

            source /etc/network/interfaces.d/*

            auto eth0
            iface eth0 inet static
                address \(node.address)/16

            """
        _ = try await Lab.shell("lab133", """
            ip link del eth1 2>/dev/null; mkdir -p /etc/network/interfaces.d /etc/network/if-pre-up.d
            printf '%s' '\(original)' > /etc/network/interfaces
            printf '#!/bin/sh\\n# bridge-utils hook (the lab double does its part in ifup)\\n' > /etc/network/if-pre-up.d/bridge; chmod 755 /etc/network/if-pre-up.d/bridge
            """)
        var cluster = try await UpCluster.make("ifupdown", [.init(name: "lab133", role: "server")])
        cluster.bridge = "bridge: {uplink: eth0, moveAddresses: true, rollbackAfter: 30s}"
        try cluster.writeInventory()

        // The fault: the new configuration comes up without the address, so Parvester cannot reconnect.
        _ = try await Lab.shell("lab133", "touch /var/lib/parvester/lab-network-fault")
        let cut = try await cluster.up(["--output", "json"])
        let failed = Self.bridgeStep(cut, "lab133")
        #expect(cut.status != 0 && failed.outcome == "failed", "\(cut.stdout.suffix(1500))")
        #expect(failed.detail.contains("restored its previous network configuration by itself at") && failed.detail.contains("and is reachable again"), "\(failed.detail)")
        #expect(try await Lab.shell("lab133", "cat /etc/network/interfaces") == original)
        #expect(try await Lab.shell("lab133", "ls /etc/network/interfaces.d").isEmpty, "Parvester's stanza file is gone again")
        #expect(try await Lab.shell("lab133", "ip -o addr show dev eth0").contains(node.address + "/16"))

        let moved = try await cluster.up(["--output", "json"])
        #expect(moved.status == 0 && Self.bridgeStep(moved, "lab133").detail.contains("eth0's addresses moved to br0 through ifupdown, confirmed"),
                "\(moved.stdout.suffix(1500))")
        let files = try await Lab.shell("lab133", "cat /etc/network/interfaces /etc/network/interfaces.d/parvester-br0")
        #expect(files.contains("iface eth0 inet manual") && files.contains("bridge_ports eth0") && files.contains("address \(node.address)/16"), "\(files)")
        try Lab.boot("lab133")
        #expect(try await Lab.shell("lab133", "ip -o addr show dev br0").contains(node.address + "/16"), "ifup -a at boot brings br0 up with it")
        #expect(try await Self.ports("lab133") == "eth0\n")
    }
}
