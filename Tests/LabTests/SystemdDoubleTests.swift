import Foundation
@testable import ParvesterCore
import SSH
import Testing

/// The lab's systemd double behaves as systemd does where Parvester depends on it, and the bridge unit
/// Parvester renders really creates the bridge inside a node.
@Suite("systemd double on lab nodes", .enabled(if: !Lab.skipped, Lab.skipReason))
struct SystemdDoubleTests {
    private func unit(_ connection: SSHConnection, _ name: String, _ text: String) async throws {
        try await connection.upload(.data(Data(text.utf8)), to: "/etc/systemd/system/\(name)", mode: 0o644)
        #expect(try await connection.run("systemctl daemon-reload").succeeded)
    }

    /// A service that reports ready over NOTIFY_SOCKET after `delay` seconds (never, when nil).
    private func notifyUnit(delay: Double?) -> String {
        let ready = delay.map { "time.sleep(\($0)); s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET']); " } ?? ""
        return """
            [Service]
            Type=notify
            TimeoutStartSec=0
            ExecStartPre=-/sbin/modprobe br_netfilter
            ExecStart=/usr/bin/python3 -c "import os, socket, time; \(ready)time.sleep(1000)"
            [Install]
            WantedBy=multi-user.target
            """
    }

    @Test func aSimpleServiceLifecycleWithSystemdsExitCodes() async throws {
        let connection = try await Lab.connect("lab46")
        defer { Task { await connection.close() } }
        try await unit(connection, "sleeper.service", "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n")
        let before = try await connection.run("systemctl is-active sleeper; systemctl is-enabled sleeper")
        #expect(before.stdoutText == "inactive\ndisabled\n")
        #expect(before.exitStatus == 1)
        #expect(try await connection.run("systemctl enable --now sleeper").succeeded)
        let running = try await connection.run("systemctl is-active sleeper && systemctl is-enabled sleeper")
        #expect(running.stdoutText == "active\nenabled\n")
        #expect(try await connection.run("systemctl stop sleeper; systemctl is-active sleeper").exitStatus == 3)
        #expect(try await connection.run("systemctl disable sleeper; systemctl is-enabled sleeper").stdoutText == "disabled\n")
        #expect(try await connection.run("systemctl start no-such-unit").exitStatus == 5)
    }

    @Test func aServiceWhoseProcessDiesShowsFailedWithItsLog() async throws {
        let connection = try await Lab.connect("lab47")
        defer { Task { await connection.close() } }
        try await unit(connection, "crasher.service", "[Service]\nExecStart=/bin/sh -c \"echo cannot join: token rejected; exit 1\"\n")
        #expect(try await connection.run("systemctl start --no-block crasher").succeeded)
        var state = try await connection.run("systemctl is-active crasher")
        for _ in 0..<200 where state.stdoutText != "failed\n" {
            try await Task.sleep(for: .milliseconds(100))
            state = try await connection.run("systemctl is-active crasher")
        }
        #expect(state.stdoutText == "failed\n", "without Restart=, a dead process is failed")
        #expect(state.exitStatus == 3)
        #expect(try await connection.run("journalctl -u crasher -n 5").stdoutText.contains("token rejected"))
    }

    @Test func aNotifyUnitIsActiveOnlyOnceReady() async throws {
        let connection = try await Lab.connect("lab48")
        defer { Task { await connection.close() } }
        try await unit(connection, "slow-ready.service", notifyUnit(delay: 1.5))
        let queued = try await connection.run("systemctl start --no-block slow-ready; systemctl is-active slow-ready")
        #expect(queued.stdoutText == "activating\n", "--no-block returns at once")
        #expect(try await connection.run("systemctl stop slow-ready").succeeded)
        let started = Date()
        #expect(try await connection.run("systemctl start slow-ready", timeout: 30).succeeded)
        #expect(Date().timeIntervalSince(started) >= 1.4, "a blocking start waits for READY=1")
        #expect(try await connection.run("systemctl is-active slow-ready").stdoutText == "active\n")
        _ = try await connection.run("systemctl stop slow-ready")
    }

    @Test func aBlockingStartWaitsForeverOnAServiceThatNeverBecomesReady() async throws {
        let connection = try await Lab.connect("lab48")
        defer { Task { await connection.close() } }
        try await unit(connection, "never-ready.service", notifyUnit(delay: nil))
        // Queued first, so the unit is activating whatever the machine's load does to command latency.
        #expect(try await connection.run("systemctl start --no-block never-ready").succeeded)
        try await Task.sleep(for: .seconds(2))
        #expect(try await connection.run("systemctl is-active never-ready").stdoutText == "activating\n", "never becomes ready")
        // As with RKE2 on a node that cannot join: a blocking start does not return (TimeoutStartSec=0).
        let error = await #expect(throws: SSHError.self) { try await connection.run("systemctl start never-ready", timeout: 5) }
        #expect(error?.kind == .timeout)
        let check = try await Lab.connect("lab48")
        #expect(try await check.run("systemctl is-active never-ready").stdoutText == "activating\n")
        _ = try await check.run("systemctl stop never-ready")
        await check.close()
    }

    /// systemd.unit(5): "If a unit has a Conflicts= setting on another unit, starting the former will stop
    /// the latter and vice versa." No error: the other unit just stops.
    @Test func startingAConflictingUnitStopsTheOther() async throws {
        let connection = try await Lab.connect("lab49")
        defer { Task { await connection.close() } }
        try await unit(connection, "role-agent.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        try await unit(connection, "role-server.service", "[Unit]\nConflicts=role-agent.service\n[Service]\nExecStart=/bin/sleep 1000\n")
        #expect(try await connection.run("systemctl start role-agent").succeeded)
        let started = try await connection.run("systemctl start role-server; echo $?; systemctl is-active role-server role-agent")
        #expect(started.stdoutText == "0\nactive\ninactive\n", "\(started.stdoutText)\(started.stderrText)")
        // The other way round: role-agent names no conflict, role-server does; it still applies.
        let back = try await connection.run("systemctl start role-agent; systemctl is-active role-agent role-server")
        #expect(back.stdoutText == "active\ninactive\n")
        _ = try await connection.run("systemctl stop role-agent")
    }

    /// systemd.service(5): with Restart=always a process that exits is started again after RestartSec;
    /// meanwhile the unit is activating (auto-restart), never failed, and NRestarts counts the restarts.
    /// More than StartLimitBurst (5) starts within StartLimitIntervalSec (10s) ends it failed.
    @Test func restartAlwaysCyclesAndCountsUntilTheStartLimit() async throws {
        let connection = try await Lab.connect("lab49")
        defer { Task { await connection.close() } }
        try await unit(connection, "looper.service", "[Unit]\nStartLimitBurst=1000\n[Service]\nRestart=always\nRestartSec=1s\nExecStart=/bin/sh -c \"echo crashing; exit 2\"\n")
        // Type=simple: the start job succeeds once the process is forked, whatever it does next.
        #expect(try await connection.run("systemctl start --no-block looper").succeeded)
        var seen: [UnitState] = []
        for _ in 0..<300 {
            let state = UnitState(text: try await connection.run("systemctl show -p ActiveState,SubState,NRestarts,Result looper").stdoutText)
            seen.append(state)
            if state.restarts >= 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(seen.last?.restarts ?? 0 >= 2, "\(seen.last.map(\.description) ?? "")")
        #expect(!seen.contains { $0.active == "failed" }, "a restarting unit is never failed")
        #expect(seen.contains { $0.active == "activating" && $0.sub == "auto-restart" })
        #expect(try await connection.run("journalctl -u looper -n 1000").stdoutText.contains("Scheduled restart job, restart counter is at 1."))
        _ = try await connection.run("systemctl stop looper")
        #expect(try await connection.run("systemctl is-active looper").stdoutText == "inactive\n")

        try await unit(connection, "fastlooper.service", "[Service]\nRestart=always\nRestartSec=100ms\nExecStart=/bin/false\n")
        _ = try await connection.run("systemctl start fastlooper")
        var last = UnitState(text: "")
        for _ in 0..<300 {
            last = UnitState(text: try await connection.run("systemctl show -p ActiveState,Result,NRestarts fastlooper").stdoutText)
            if last.active == "failed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(last.active == "failed" && last.result == "start-limit-hit", "\(last)")
    }

    @Test func theRenderedBridgeUnitCreatesTheBridgeWithItsUplink() async throws {
        let inventory = try InventoryLoader.load(path: Lab.repositoryRoot.appendingPathComponent("inventory/lab.yaml").path)
        let file = try BridgeUnitRenderer(inventory: inventory).file(for: inventory.nodes[0])
        let connection = try await Lab.connect("lab49")
        defer { Task { await connection.close() } }
        _ = try await connection.run("ip link del br0 2>/dev/null; true")
        try await connection.upload(.data(Data(file.content.utf8)), to: file.path, mode: file.mode)
        let unitName = (file.path as NSString).lastPathComponent
        let started = try await connection.run("systemctl daemon-reload && systemctl enable --now \(unitName)")
        #expect(started.succeeded, "\(started.stderrText)")
        let links = try await connection.run("ip -o link show br0; ip -o link show eth1")
        #expect(links.stdoutText.contains("br0: <BROADCAST,MULTICAST,UP"))
        #expect(links.stdoutText.contains("eth1@") && links.stdoutText.contains("master br0"))
        // Running it again (a reboot, a second `up`) changes nothing and does not fail.
        #expect(try await connection.run("systemctl restart \(unitName) && systemctl is-active \(unitName)").stdoutText == "active\n")
        _ = try await connection.run("systemctl disable --now \(unitName); ip link del br0")
    }
}
