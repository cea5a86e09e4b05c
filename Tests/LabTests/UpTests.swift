import Foundation
import SSH
import TestSupport
import Testing

/// `parvester up` against lab clusters, as users run it. Nodes lab53-lab67 only.
@Suite("parvester up on the lab", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpTests {
    @Test func aFreshClusterConvergesAndASecondRunWritesNothing() async throws {
        _ = try Lab.require(nodes: 57)
        let cluster = try await UpCluster.make("fresh", [
            .init(name: "lab53", role: "server"), .init(name: "lab54", role: "server"), .init(name: "lab55", role: "server"),
            .init(name: "lab56", role: "agent"), .init(name: "lab57", role: "agent"),
        ])
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))\n\(first.stderr)")
        #expect(first.json["ok"] as? Bool == true)
        let ready = first.outcomes.filter { $0.phase == "wait-nodes-ready" && $0.outcome == "ok" }.map(\.target)
        #expect(Set(ready) == ["lab53", "lab54", "lab55", "lab56", "lab57"])
        // Servers joined one at a time, in inventory order.
        #expect(first.outcomes.filter { $0.phase == "join-servers" }.map(\.target) == ["lab54", "lab55"])

        let kubeconfig = cluster.stateDirectory + "/kubeconfig"
        let attributes = try FileManager.default.attributesOfItem(atPath: kubeconfig)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: kubeconfig, encoding: .utf8).contains("server: https://\(try Lab.node("lab53").address):6443"))

        var before: [String: String] = [:]
        for node in ["lab53", "lab54", "lab55", "lab56", "lab57"] { before[node] = try await UpCluster.snapshot(node) }
        #expect(before["lab54"]?.contains("/etc/rancher/rke2/config.yaml.d/10-server.yaml") == true)
        #expect(before["lab53"]?.contains("/etc/rancher/rke2/config.yaml.d/10-server.yaml") == false)
        #expect(before["lab56"]?.contains("rke2-agent active enabled") == true)
        #expect(before["lab53"]?.contains("br0 port eth1") == true)
        #expect(before["lab53"]?.contains("/etc/rancher/rke2/config.yaml") == true && before["lab53"]?.contains(" 600 ") == true)

        let second = try await cluster.up()
        #expect(second.status == 0, "\(second.stdout.suffix(2000))")
        #expect(second.json["changed"] as? Int == 0)
        let changed = second.outcomes.filter { $0.outcome == "changed" }
        #expect(changed.isEmpty, "a re-run changed: \(changed)")
        for node in ["lab53", "lab54", "lab55", "lab56", "lab57"] {
            #expect(try await UpCluster.snapshot(node) == before[node], "\(node): same inode, mtime and content for every managed file")
        }
    }

    @Test func addingANodeTouchesOnlyThatNode() async throws {
        _ = try Lab.require(nodes: 61)
        var cluster = try await UpCluster.make("grow", [.init(name: "lab58", role: "server"), .init(name: "lab59", role: "agent")])
        try await UpCluster.reset("lab60")
        let first = try await cluster.up()
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        let before = (try await UpCluster.snapshot("lab58"), try await UpCluster.snapshot("lab59"))

        cluster.members.append(.init(name: "lab60", role: "agent"))
        try cluster.writeInventory()
        let second = try await cluster.up()
        #expect(second.status == 0, "\(second.stdout.suffix(2000))")
        let touched = Set(second.outcomes.filter { $0.outcome == "changed" }.map(\.target))
        #expect(touched == ["lab60"], "only the new node changes: \(touched)")
        #expect(try await UpCluster.snapshot("lab58") == before.0)
        #expect(try await UpCluster.snapshot("lab59") == before.1)
        #expect(try await UpCluster.snapshot("lab60").contains("rke2-agent active enabled"))
    }

    @Test func aWrongTokenForAnExistingClusterIsRefusedAndChangesNothing() async throws {
        _ = try Lab.require(nodes: 62)
        var cluster = try await UpCluster.make("token", [.init(name: "lab62", role: "server")], clusterExtra: "  token: first-token-of-lab62")
        #expect(try await cluster.up().status == 0)
        let before = try await UpCluster.snapshot("lab62")
        cluster.clusterExtra = "  token: another-token"
        try cluster.writeInventory()
        let refused = try await cluster.up(["--output", "text"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("the inventory's token does not match the token of the cluster already running on lab62"), "\(refused.stdout)")
        #expect(!refused.stdout.contains("another-token") && !refused.stdout.contains("first-token-of-lab62"))
        #expect(try await UpCluster.snapshot("lab62") == before)
    }

    @Test func aMissingUplinkOrOneCarryingSSHIsRefusedBeforeAnythingIsWritten() async throws {
        _ = try Lab.require(nodes: 63)
        for (uplink, message) in [("eth9", "the uplink eth9 does not exist on lab63 (its interfaces: eth0, eth1)"),
                                  ("eth0", "the uplink eth0 carries the SSH connection")] {
            let cluster = try await UpCluster.make("uplink", [.init(name: "lab63", role: "server", extra: "uplink: \(uplink)")])
            let refused = try await cluster.up(["--output", "text"])
            #expect(refused.status == 1)
            #expect(refused.stdout.contains("lab63") && refused.stdout.contains("validate-hosts"))
            #expect(refused.stdout.contains(message), "\(refused.stdout)")
            let snapshot = try await UpCluster.snapshot("lab63")
            #expect(!snapshot.contains("/etc/rancher/rke2/config.yaml"), "nothing written: \(snapshot)")
        }
    }

    @Test func aServerThatFailsToStartIsReportedWithItsLog() async throws {
        _ = try Lab.require(nodes: 64)
        let cluster = try await UpCluster.make("broken", [.init(name: "lab64", role: "server")],
                                               clusterExtra: "  rke2Config: {not-an-rke2-option: 1}")
        let run = try await cluster.up(["--output", "text"])
        #expect(run.status == 1)
        // RKE2's Restart=always keeps a dying server `activating`: the crash loop is named after the second
        // restart, instead of waiting out --wait-timeout (90 s here), with the journal's last lines.
        #expect(run.stdout.contains("rke2-server keeps crashing: systemd restarted it 2 times (Restart=always); its last log lines:"), "\(run.stdout)")
        #expect(run.stdout.contains("unknown configuration key 'not-an-rke2-option'"))
        #expect(!run.stdout.contains("still activating after"))
        #expect(!run.stdout.contains("still running `systemctl show"), "a progress line names the wait, not the command polling for it")
        #expect(run.stdout.contains("stopped: the initial server lab64 did not come up"))
    }

    @Test func secretsNeverReachOutputCommandLinesOrTheLocalReport() async throws {
        _ = try Lab.require(nodes: 66)
        let token = "lab-secret-\(UUID().uuidString)"
        let cluster = try await UpCluster.make("secrets", [.init(name: "lab65", role: "server"), .init(name: "lab66", role: "agent")],
                                               clusterExtra: "  token: \(token)")
        // Sample every process's command line on both nodes for the whole run, until told to stop: a fixed
        // number of samples either ends before the runs do or, on a loaded machine where each `ps` is slow,
        // outlasts its time limit. Only lines holding the token come back (grep reads it from a file, so
        // the sampler's own command line does not hold it), with the number of samples taken.
        let files = "/tmp/parvester-sampler-\(UUID().uuidString)"
        for node in ["lab65", "lab66"] { _ = try await Lab.shell(node, "umask 077 && printf '%s\\n' '\(token)' > \(files).needle") }
        let samplers = try await ["lab65", "lab66"].asyncMap { node in
            let connection = try await Lab.connect(node)
            let sample = "n=0; while [ ! -e \(files).stop ]; do ps -eo args | grep -F -f \(files).needle; n=$((n+1)); sleep 0.05; done; "
                + "echo \"samples: $n\"; rm -f \(files).stop \(files).needle"
            return (connection, Task { try await connection.run(sample, timeout: 900).stdoutText })
        }
        let verbose = try await cluster.up(["-v", "--output", "text"])
        let json = try await cluster.up(["-v", "--output", "json"])
        for node in ["lab65", "lab66"] { _ = try await Lab.shell(node, "touch \(files).stop") }
        #expect(verbose.status == 0 && json.status == 0, "\(verbose.stdout.suffix(1500))")
        // -v prints the commands themselves, each with what it is for.
        #expect(verbose.stdout.contains("lab65: $ systemctl "), "-v shows the commands: \(verbose.stdout.prefix(3000))")
        #expect(verbose.stdout.split(separator: "\n").contains { $0.contains("lab65: $ ") && $0.contains("# gather facts") }, "-v says what a script is for")
        let key = try clientKey(cluster.stateDirectory + "/kubeconfig")
        let report = try String(contentsOfFile: cluster.stateDirectory + "/last-run.json", encoding: .utf8)
        for (what, text) in [("text output", verbose.stdout + verbose.stderr), ("json output", json.stdout + json.stderr), ("last-run.json", report)] {
            #expect(!text.contains(token), "the token appears in \(what)")
            #expect(!text.contains(key), "the kubeconfig's key appears in \(what)")
        }
        for (connection, sampler) in samplers {
            let found = try await sampler.value
            let samples = found.split(separator: "\n").last.flatMap { $0.hasPrefix("samples: ") ? Int($0.dropFirst(9)) : nil } ?? 0
            #expect(samples > 10, "the sampler ran through the runs: \(found.suffix(300))")
            #expect(!found.contains(token), "the token appeared in a command line on a node")
            await connection.close()
        }
    }

    /// The key's base64 body (a line of it), as it would appear if leaked.
    private func clientKey(_ kubeconfig: String) throws -> String {
        let text = try String(contentsOfFile: kubeconfig, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.contains("client-key-data:") })
        return String(line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces).prefix(40))
    }

    @Test func aHeldLockIsRefusedAndAStaleOneTakenOver() async throws {
        _ = try Lab.require(nodes: 67)
        let cluster = try await UpCluster.make("lock", [.init(name: "lab67", role: "server")])
        let connection = try await Lab.connect("lab67")
        defer { Task { await connection.close() } }
        func hold(pid: Int32, host: String, age: String) async throws {
            let start = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap { stat -> String? in
                guard let end = stat.lastIndex(of: ")") else { return nil }
                let fields = stat[stat.index(after: end)...].split(separator: " ")
                return fields.count > 19 ? String(fields[19]) : nil
            } ?? "0"
            let holder = #"{"host":"\#(host)","pid":\#(pid),"started":"\#(start)","user":"someone","since":"earlier"}"#
            _ = try await connection.run("rm -rf /var/lib/parvester/run.lock && mkdir -p /var/lib/parvester/run.lock && echo '\(holder)' > /var/lib/parvester/run.lock/holder && touch -d '\(age)' /var/lib/parvester/run.lock")
        }
        let host = ProcessInfo.processInfo.hostName
        // A live process of this machine holds it: refused, naming the holder.
        try await hold(pid: getpid(), host: host, age: "now")
        let refused = try await cluster.up(["--output", "text"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("another parvester run holds the cluster's lock on lab67: someone@\(host) (pid \(getpid())"), "\(refused.stdout)")
        // Another machine's fresh lock: refused too.
        try await hold(pid: 1, host: "elsewhere.example", age: "now")
        #expect(try await cluster.up().status == 1)
        // Another machine's lock without heartbeat for two minutes: taken over.
        try await hold(pid: 1, host: "elsewhere.example", age: "2 minutes ago")
        #expect(try await cluster.up().status == 0)
        // A process of this machine that is gone: taken over at once.
        try await hold(pid: 999_999, host: host, age: "now")
        #expect(try await cluster.up().status == 0)
        #expect(try await connection.run("test -e /var/lib/parvester/run.lock").exitStatus == 1, "released after the run")
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// The online install path: the node runs the install script from its URL (the lab's stand-in for
/// get.rke2.io, which downloads the release from the lab's copy of GitHub's paths). Node lab11 only.
@Suite("up installs online", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpOnlineInstallTests {
    @Test func theNodeRunsTheInstallScriptFromItsURL() async throws {
        let lab = try Lab.require(nodes: 11)
        var cluster = try await UpCluster.make("online", [.init(name: "lab11", role: "server")])
        cluster.install = "  install: {method: online, scriptURL: \"\(lab.manifests_url)get.rke2.io\"}"
        try cluster.writeInventory()
        let run = try await cluster.up()
        #expect(run.status == 0, "\(run.stdout.suffix(1500))")
        #expect(run.outcomes.contains { $0.phase == "install-rke2" && $0.target == "lab11" && $0.outcome == "changed" })
        let log = try String(contentsOfFile: lab.manifests_access_log, encoding: .utf8)
        let release = "/github.com/rancher/rke2/releases/download/v1.28.11%2Brke2r1/rke2.linux-amd64.tar.gz"
        #expect(log.contains("GET /get.rke2.io 200") && log.contains("GET \(release) 302") && log.contains("GET /objects.githubusercontent.com\(release) 200"),
                "\(log.suffix(1500))")
        #expect(try await UpCluster.snapshot("lab11").contains("rke2-server active enabled"))
    }
}

/// `virt-host-validate qemu` FAILs stop a node unless the inventory downgrades them. Nodes lab12-lab13.
@Suite("up runs virt-host-validate", .enabled(if: !Lab.skipped, Lab.skipReason))
struct UpHostValidationTests {
    /// A virt-host-validate on the node (its private /usr/local/bin) that reports what a host without
    /// hardware virtualisation reports.
    private func installFailingValidator(on node: String) async throws {
        let connection = try await Lab.connect(node)
        defer { Task { await connection.close() } }
        try await connection.upload(.data(Data("""
            #!/bin/sh
            echo "  QEMU: Checking for hardware virtualization                                 : FAIL (Only emulated CPUs are available, performance will be significantly limited)"
            echo "  QEMU: Checking if device /dev/vhost-net exists                             : PASS"
            exit 1

            """.utf8)), to: "/usr/local/bin/virt-host-validate", mode: 0o755)
    }

    @Test func aFailStopsTheNodeUnlessDowngradedToAWarning() async throws {
        _ = try Lab.require(nodes: 13)
        var cluster = try await UpCluster.make("vhv", [.init(name: "lab12", role: "server"), .init(name: "lab13", role: "agent")])
        try await installFailingValidator(on: "lab13")
        let refused = try await cluster.up(["--output", "text"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("lab13: validate-hosts: virt-host-validate qemu: QEMU: Checking for hardware virtualization"), "\(refused.stdout.suffix(1500))")
        #expect(refused.stdout.contains("set cluster.virtHostValidate: warn"))
        #expect(!(try await UpCluster.snapshot("lab13")).contains("/etc/rancher/rke2/config.yaml"), "the refused node is left untouched")
        #expect(try await UpCluster.snapshot("lab12").contains("rke2-server active"), "the other node goes on")

        cluster.clusterExtra = "  virtHostValidate: warn"
        try cluster.writeInventory()
        let warned = try await cluster.up(["--output", "text"])
        #expect(warned.status == 0, "\(warned.stdout.suffix(1500))")
        #expect(warned.stdout.contains("warning: virt-host-validate qemu:"))
        let connection = try await Lab.connect("lab13")
        _ = try await connection.run("rm -f /usr/local/bin/virt-host-validate")
        await connection.close()
    }
}
