import Foundation
import Kube
import TestSupport
import Testing

/// `vm console` and `vm vnc` through the Kubernetes API to the lab's virt-api double, over the RKE2
/// double's TLS: the WebSocket upgrade, waiting while the VMI is not Running, keepalive pings, a dropped
/// connection made again, the server's close, raw mode and Ctrl+] on a terminal, and the VNC listener
/// and screenshot. Node lab128.
@Suite("VM console and VNC", .enabled(if: !Lab.skipped, Lab.skipReason))
struct VMConsoleTests {
    static func product() -> String { LocalProcess.builtProduct("parvester").path }

    /// `vm console vm1`, its stderr also copied to `stderrFile` as it comes (to wait on).
    func console(_ cluster: UpCluster, _ extra: [String], input: String = "", stderrFile: String = "/dev/null") async throws -> LocalProcess.Output {
        let arguments = (["vm", "console", "vm1"] + extra + ["-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory])
            .map { "'\($0)'" }.joined(separator: " ")
        return try await LocalProcess.runAsync("sh", ["-c", "{ printf '\(input)' | '\(Self.product())' \(arguments) 2>&1 1>&3 | tee '\(stderrFile)' >&2; } 3>&1"])
    }

    /// The virt-api double's counts for default/vm1 of this cluster.
    func streamCounts() throws -> [String: Int] {
        let out = try Lab.script(["streams"])
        let all = (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: [String: Int]]) ?? [:]
        // One cluster per test node: the key is CLUSTER/default/vm1 with this cluster's CA hash.
        return all.filter { $0.key.hasSuffix("/default/vm1") }.values.reduce(into: [:]) { total, counts in
            for (key, value) in counts { total[key, default: 0] += value }
        }
    }

    @Test func theConsoleWaitsForTheVMShowsItsBootAndSurvivesDropsAndVNCServesAViewer() async throws {
        let lab = try Lab.require(nodes: 128)
        var cluster = try await UpCluster.make("console", [.init(name: "lab128", role: "server")], topExtra: """
            networks: [{name: net-101}]
            images: [{name: disk, size: 1Gi, source: {url: "\(lab.manifests_url)images/lab-disk.qcow2"}}]
            vms: [{name: vm1, image: disk, running: false}]
            """)
        cluster.components = try UpCluster.labComponents()
        try cluster.writeInventory()
        let up = try await cluster.up(["--output", "json", "--wait-timeout", "90s"])
        try #require(up.status == 0, "\(up.stdout.suffix(2000))")
        let before = try streamCounts()

        // A VM that does not exist is refused at once, not waited for.
        let missing = try await ImagesAndVMsTests.parvester(["vm", "console", "nope"], cluster)
        #expect(missing.status != 0 && missing.stderr.contains("no VM or VMI default/nope"), "\(missing.stderr)")

        // vm1 is stopped: the console waits (404, then 400 while Scheduling) until `vm start` runs it.
        let waitingLog = cluster.directory.appendingPathComponent("console-stderr").path
        async let watching = console(cluster, ["--duration", "30s", "--keepalive", "200ms"], input: "hello\\r", stderrFile: waitingLog)
        try await Lab.waitFor("the console to say it waits for the VM", limit: 60) {
            ((try? String(contentsOfFile: waitingLog, encoding: .utf8)) ?? "").contains("waiting for default/vm1's console")
        }
        let start = try await ImagesAndVMsTests.parvester(["vm", "start", "vm1"], cluster)
        #expect(start.status == 0, "\(start.stderr)")
        let first = try await watching
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("waiting for default/vm1's console"), "\(first.stderr)")
        #expect(first.stdout.contains("Linux version 6.1.0-lab") && first.stdout.contains("hostname: vm1"), "the boot log: \(first.stdout)")
        #expect(first.stdout.contains("vm1 login: hello\r\n"), "what was typed, echoed: \(first.stdout.debugDescription)")
        let afterFirst = try streamCounts()
        #expect(afterFirst["connections", default: 0] - before["connections", default: 0] == 1)
        #expect(afterFirst["pings", default: 0] - before["pings", default: 0] >= 5, "keepalive pings every 200ms: \(afterFirst)")

        // The next connection drops after 5 bytes, without a close frame: the console connects again.
        try Lab.kubeFault("lab128", ["console-drop", "5"])
        let dropped = try await console(cluster, ["--duration", "6s"])
        #expect(dropped.status == 0 && dropped.stderr.contains("the console connection dropped"), "\(dropped.stderr)")
        #expect(dropped.stderr.contains("reconnected to default/vm1's console"), "\(dropped.stderr)")
        #expect(try streamCounts()["connections", default: 0] - afterFirst["connections", default: 0] == 2)

        // On a terminal (script(1) gives it one): raw mode, keys to the VM, Ctrl+] (0x1d) leaves, and the
        // terminal's settings are back as they were. Ctrl+] is typed once the VM has echoed the first keys.
        let arguments = "vm console vm1 -i '\(cluster.inventoryPath)' --state-dir '\(cluster.stateDirectory)'"
        let typescript = cluster.directory.appendingPathComponent("typescript").path
        let tty = try await LocalProcess.runAsync("sh", ["-c", """
            { printf 'typed\\r'; i=0; until grep -q 'login: typed' '\(typescript)' 2>/dev/null || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done; printf '\\035'; } \\
              | script -qfec "stty -g; '\(Self.product())' \(arguments); echo exit=\\$?; stty -g" '\(typescript)'
            """])
        let settings = tty.stdout.matches(of: /[0-9a-f]+(:[0-9a-f]+){30,}/).map { String($0.output.0) }
        #expect(tty.stdout.contains("vm1 login: typed\r\n"), "\(tty.stdout.debugDescription)")
        #expect(tty.stdout.contains("left the console of default/vm1") && tty.stdout.contains("exit=0"), "\(tty.stdout.debugDescription)")
        #expect(settings.count == 2 && settings.first == settings.last, "the terminal restored: \(settings)")

        // VNC: a viewer on the local port gets the VM's RFB handshake; a screenshot is a PNG.
        let shot = cluster.directory.appendingPathComponent("screen.png").path
        let screenshot = try await ImagesAndVMsTests.parvester(["vm", "vnc", "vm1", "--screenshot", shot], cluster)
        #expect(screenshot.status == 0 && screenshot.stdout.contains("640×480 PNG"), "\(screenshot.stdout)\(screenshot.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: shot)).prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let viewer = try await LocalProcess.runStreaming(Self.product(), ["vm", "vnc", "vm1", "-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory]) { line, pid in
            guard let port = line.split(separator: " ").first(where: { $0.hasPrefix("127.0.0.1:") })?.split(separator: ":").last else { return }
            // An RFB client: version, security None, ClientInit; ServerInit names the VM.
            let client = try? LocalProcess.run("python3", ["-c", """
                import socket, struct
                s = socket.create_connection(("127.0.0.1", \(port)), timeout=20)
                def need(n):
                    b = b""
                    while len(b) < n:
                        c = s.recv(n - len(b)); assert c, "closed"; b += c
                    return b
                print(need(12).decode().strip()); s.sendall(b"RFB 003.008\\n")
                assert need(2) == bytes([1, 1]); s.sendall(bytes([1]))
                assert need(4) == bytes(4); s.sendall(bytes([1]))
                w, h = struct.unpack(">HH", need(4)); need(16); n = struct.unpack(">I", need(4))[0]
                print(w, h, need(n).decode())
                """])
            FileHandle.standardError.write(Data("viewer: \(client?.stdout ?? "") \(client?.stderr ?? "")\n".utf8))
            try? "\(client?.stdout ?? "")".write(toFile: shot + ".viewer", atomically: true, encoding: .utf8)
            kill(pid, SIGTERM)
        }
        #expect(viewer.stdout.contains("VNC of default/vm1 on 127.0.0.1:"), "\(viewer.stdout)")
        let seen = (try? String(contentsOfFile: shot + ".viewer", encoding: .utf8)) ?? ""
        #expect(seen == "RFB 003.008\n640 480 vm1\n", "\(seen.debugDescription) \(viewer.stderr)")

        // Stopping the VM ends the console with the server's close.
        let connections = try streamCounts()["connections", default: 0]
        async let open = console(cluster, ["--duration", "60s"])
        try await Lab.waitFor("the console to connect", limit: 60) { try streamCounts()["connections", default: 0] > connections }
        let stop = try await ImagesAndVMsTests.parvester(["vm", "stop", "vm1"], cluster)
        #expect(stop.status == 0, "\(stop.stderr)")
        let closed = try await open
        #expect(closed.status == 0 && closed.stderr.contains("the console of default/vm1 closed (1000: VMI is gone)"), "\(closed.stderr)")
    }
}
