import Foundation
import ParvesterCore
import SSH
import Testing

/// What `up` does where real systemd differs from a naive double: RKE2's Restart=always hides a crash
/// loop as `activating`, Conflicts= stops the other RKE2 unit silently, and an uplink can vanish.
@Suite("up under systemd's Restart= and Conflicts=", .enabled(if: !Lab.skipped, Lab.skipReason))
struct SystemdBehaviourTests {
    /// A node whose uplink leaves the inventory loses its bridge unit (disabled, removed); a node whose
    /// role changes is refused before anything is started, its RKE2 left running.
    @Test func aRemovedUplinkRetiresTheUnitAndARoleChangeIsRefused() async throws {
        var cluster = try await UpCluster.make("roles", [.init(name: "lab29", role: "server"), .init(name: "lab61", role: "agent")])
        let first = try await cluster.up()
        try #require(first.status == 0, "\(first.stdout.suffix(1500))")
        #expect(try await UpCluster.snapshot("lab61").contains("parvester-bridge-br0 active enabled"))

        cluster.bridge = "bridge: {}"
        try cluster.writeInventory()
        let retired = try await cluster.up()
        #expect(retired.status == 0, "\(retired.stdout.suffix(1500))")
        #expect(retired.outcomes.contains { $0.phase == "bridges" && $0.target == "lab61" && $0.outcome == "changed" })
        let after = try await UpCluster.snapshot("lab61")
        #expect(!after.contains("/etc/systemd/system/parvester-bridge-br0.service"), "the unit file is gone: \(after)")
        #expect(!after.contains("parvester-bridge-br0 active enabled") && after.contains("parvester-bridge-br0"), "\(after)")
        let again = try await cluster.up()
        #expect(again.outcomes.contains { $0.phase == "bridges" && $0.target == "lab61" && $0.outcome == "ok" }, "nothing left to retire")

        cluster.members[1].role = "server"
        try cluster.writeInventory()
        let refused = try await cluster.up(["--output", "text"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("lab61 runs rke2-agent (active and enabled), but the inventory makes it a server"), "\(refused.stdout.suffix(1500))")
        #expect(try await UpCluster.snapshot("lab61").contains("rke2-agent active enabled"), "the agent was left running")
        #expect(!(try await UpCluster.snapshot("lab61")).contains("rke2-server active"))
    }

    /// The rendered unit, started on a node without its uplink, logs and succeeds: no unit failing at
    /// every boot, no `degraded` system.
    @Test func theBridgeUnitToleratesAMissingUplink() async throws {
        let inventory = try InventoryLoader.load(path: Lab.repositoryRoot.appendingPathComponent("inventory/lab.yaml").path)
        var node = inventory.nodes[0]
        node.uplink = "eth9"
        let file = try BridgeUnitRenderer(inventory: inventory).file(for: node)
        let connection = try await Lab.connect("lab80")
        defer { Task { await connection.close() } }
        try await connection.upload(.data(Data(file.content.utf8)), to: file.path, mode: file.mode)
        let unit = (file.path as NSString).lastPathComponent
        let started = try await connection.run("systemctl daemon-reload && systemctl start \(unit); echo $?; systemctl is-active \(unit); journalctl -u \(unit) -n 5")
        #expect(started.stdoutText.hasPrefix("0\nactive\n"), "\(started.stdoutText)\(started.stderrText)")
        #expect(started.stdoutText.contains("the uplink eth9 is missing, br0 is left without it"))
        _ = try await connection.run("systemctl stop \(unit); rm -f \(file.path); ip link del br0 2>/dev/null; true")
    }
}
