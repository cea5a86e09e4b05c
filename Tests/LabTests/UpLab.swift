import Foundation
import SSH
import TestSupport
import Testing

/// A cluster of lab nodes for `parvester up` tests: its own inventory and state directory under the lab
/// directory, the built binary run as a user would run it.
struct UpCluster {
    struct Member {
        var name: String
        var role: String
        var extra: String = ""
    }

    let name: String
    let directory: URL
    var members: [Member]
    var clusterExtra: String
    var topExtra: String
    /// The `install:` line of `cluster:` (airgap from the lab's artifacts unless changed).
    var install = ""
    /// The `bridge:` section.
    var bridge = "bridge: {uplink: eth1}"
    /// The `components:` section. By default none: those tests are about the RKE2 phases, and the
    /// release URLs point outside the lab. `labComponents` fetches them from the lab's manifest server.
    var components = "components: {localPathProvisioner: {enabled: false}, kubevirt: {enabled: false}, cdi: {enabled: false}, multus: {enabled: false}}"

    /// The lab's manifest server as a mirror; with a tag, its requests are told apart in the access log.
    static func labMirror(tag: String? = nil) throws -> String { try Lab.require().manifests_url + (tag.map { "_/\($0)" } ?? "") }

    static func labComponents(tag: String? = nil, extra: String = "") throws -> String { "components: {mirror: \"\(try labMirror(tag: tag))\"\(extra)}" }

    var inventoryPath: String { directory.appendingPathComponent("inventory.yaml").path }
    var stateDirectory: String { directory.appendingPathComponent("state").path }

    /// A fresh cluster on `members`: leftovers of earlier runs on those nodes are removed first.
    static func make(_ name: String, _ members: [Member], clusterExtra: String = "", topExtra: String = "") async throws -> UpCluster {
        let directory = URL(fileURLWithPath: Lab.directory).appendingPathComponent("up/\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cluster = UpCluster(name: name, directory: directory, members: members, clusterExtra: clusterExtra, topExtra: topExtra)
        for member in members { try await reset(member.name) }
        try cluster.writeInventory()
        return cluster
    }

    /// Removes RKE2, its configuration, the bridge and the run lock from a node.
    static func reset(_ node: String) async throws {
        _ = try await Lab.withConnection(node) { connection in try await connection.run("""
            systemctl disable --now rke2-server >/dev/null 2>&1; systemctl disable --now rke2-agent >/dev/null 2>&1
            test -x /usr/local/bin/rke2-uninstall.sh && /usr/local/bin/rke2-uninstall.sh >/dev/null 2>&1
            systemctl disable --now parvester-bridge-br0.service >/dev/null 2>&1
            rm -f /etc/systemd/system/parvester-bridge-br0.service
            ip link del br0 2>/dev/null
            rm -rf /etc/rancher/rke2 /var/lib/parvester/* /var/lib/rancher/rke2
            true
            """, timeout: 180) }
    }

    func writeInventory() throws {
        let lab = try Lab.require()
        let first = try Lab.node(members.first { $0.role == "server" }!.name)
        var lines = [
            "cluster:", "  name: \(name)", "  address: \(first.address)",
            install.isEmpty ? "  install: {method: airgap, artifactsDir: \(lab.artifacts)}" : install,
            "  minFreeDisk: 1Gi",  // the lab's nodes share this machine's disk
        ]
        if !clusterExtra.isEmpty { lines.append(clusterExtra) }
        lines += [
            // pvuser (sudo without password): root's login shell on this machine is slow to start.
            "ssh:", "  user: pvuser", "  identityFile: \(lab.client_keys["ed25519"]!)", "  knownHostsFile: \(lab.known_hosts)",
            "  connectTimeout: 5s",
            bridge,
            "nodes:",
        ]
        for member in members {
            let node = try Lab.node(member.name)
            lines.append("  - {name: \(member.name), address: \(node.address), role: \(member.role)\(member.extra.isEmpty ? "" : ", " + member.extra)}")
        }
        lines.append(components)
        if !topExtra.isEmpty { lines.append(topExtra) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: inventoryPath, atomically: true, encoding: .utf8)
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
        var steps: [[String: Any]] { json["steps"] as? [[String: Any]] ?? [] }

        /// (phase, target, outcome) of every step.
        var outcomes: [(phase: String, target: String, outcome: String)] {
            steps.map { ($0["phase"] as? String ?? "", $0["target"] as? String ?? "", $0["outcome"] as? String ?? "") }
        }
    }

    var upArguments: [String] { ["up", "-i", inventoryPath, "--state-dir", stateDirectory, "--wait-timeout", "90s"] }

    /// `parvester up`, handing each printed line to `onLine` as it comes (with the process id).
    func upStreaming(_ arguments: [String], environment: [String: String] = [:],
                     onLine: @escaping @Sendable (String, Int32) -> Void) async throws -> Run {
        let output = try await LocalProcess.runStreaming(LocalProcess.builtProduct("parvester").path, upArguments + arguments,
                                                         environment: environment, onLine: onLine)
        return Run(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    /// `parvester up` (text output) with `node`'s link cut when the header of `phase` is printed. The run is
    /// paused while the link is cut, so the cut lands there however slowly the fault command starts on a
    /// loaded machine. The caller brings the link back up.
    func upCuttingLink(of node: String, at phase: String, _ arguments: [String]) async throws -> Run {
        try await upStreaming(arguments) { line, pid in
            guard line.hasPrefix("▸ "), line.contains("[\(phase)]") else { return }
            kill(pid, SIGSTOP)
            try? Lab.fault(node, "link-down")
            kill(pid, SIGCONT)
        }
    }

    /// `parvester up` on this cluster; JSON output unless `arguments` say otherwise.
    func up(_ arguments: [String] = ["--output", "json"], environment: [String: String] = [:],
            started: (@Sendable (Int32) -> Void)? = nil) async throws -> Run {
        let binary = LocalProcess.builtProduct("parvester").path
        let output = try await LocalProcess.runAsync(
            binary, upArguments + arguments, environment: environment, started: started)
        return Run(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    /// Managed files of a node with (unless `identity` is false) inode and mtime in ns, then mode and
    /// sha256; services and the bridge.
    static func snapshot(_ node: String, identity: Bool = true) async throws -> String {
        try await Lab.withConnection(node) { connection in try await connection.run("""
            for f in /etc/rancher/rke2/config.yaml /etc/rancher/rke2/config.yaml.d/10-server.yaml /etc/systemd/system/parvester-bridge-br0.service; do
              [ -e "$f" ] && echo "$(stat -c '\(identity ? "%n %i %.9Y %a" : "%n %a")' "$f") $(sha256sum < "$f" | cut -c1-16)"
            done
            for u in rke2-server rke2-agent parvester-bridge-br0; do echo "$u $(systemctl is-active $u) $(systemctl is-enabled $u 2>/dev/null)"; done
            ip -o link show master br0 2>/dev/null | awk '{print "br0 port " $2}'
            """, timeout: 30).stdoutText }
    }
}
