import Foundation
import Kube

/// The nodes `reset` takes away: the inventory's, and any node the API labels as this cluster's that the
/// inventory no longer names (when the API answers). Agents first, then the joining servers one at a
/// time, the initial server last.
struct ResetTargetsPhase: ReadOnlyPhase {
    let id = "reset-targets"
    let title = "The nodes to reset"

    func targets(_ context: RunContext) -> [String] { ["cluster"] }

    func run(_ context: RunContext) async throws {
        let inventory = context.inventory
        var targets = inventory.nodes.map { node in
            RemovalTarget(name: node.name, address: node.address, isServer: node.role == .server, inInventory: true)
        }
        if let kube = context.kube {
            let stray = try await KubeNodes.list(kube, labelSelector: "\(Ownership.clusterLabel)=\(inventory.cluster.name)")
                .filter { node in !inventory.nodes.contains { $0.name == node.name } }
            targets += stray.map { RemovalTarget(apiNode: $0, inventory: inventory) }
            for node in stray { context.report.notice("\(node.name) is not in the inventory but belongs to the cluster: it is reset too") }
        }
        let initial = inventory.initialServer.name
        let agents = targets.filter { !$0.isServer }
        let servers = targets.filter { $0.isServer && $0.name != initial }
        let last = targets.filter { $0.name == initial }
        context.setRemovals(agents + servers + last)
    }
}

/// On every node, in the order of `reset-targets`: RKE2's rke2-killall.sh and rke2-uninstall.sh, the
/// bridge unit and the bridge, Parvester's files; the local-path data stays unless --wipe. Agents go in
/// parallel, servers one at a time.
struct ResetNodesPhase: RemovalPhase {
    let id = "reset-node"
    let title = "Uninstall RKE2 and remove the bridge on every node"
    let wipe: Bool

    func note(_ context: RunContext) -> String? { "agents, then servers one at a time, the initial server last" }

    func run(_ context: RunContext) async throws {
        let dirty = context.cluster.leftDirty
        for node in context.removalNodes() where dirty.contains(node.name) {
            context.skip(id, node, "does not answer: left dirty")
            context.report.notice("\(node.name) did not answer and was not reset: when it is back, run rke2-uninstall.sh on it and remove its bridge")
        }
        let nodes = context.removalNodes().filter { !dirty.contains($0.name) }
        let script = UninstallPhase.script(context.inventory, wipe: wipe, bridge: true)
        let work: @Sendable (Node) async -> Void = { node in
            await context.step(id, node) {
                let output = try await context.run(node, script, summary: "rke2-killall.sh, rke2-uninstall.sh, remove the bridge and its unit", timeout: 600)
                return UninstallPhase.summary(output.stdoutText).map { .changed($0) } ?? .unchanged
            }
        }
        await context.forEach(nodes.filter { $0.role == .agent }, work)
        for server in nodes where server.role == .server { await work(server) }
    }
}

/// After a reset, each node is checked over SSH for anything of RKE2 or Parvester left: files, units,
/// the bridge, running services. What is left is named, and the node's step fails.
struct VerifyResetPhase: ReadOnlyPhase {
    let id = "verify-reset"
    let title = "Check that nothing is left on the nodes"

    func targets(_ context: RunContext) -> [String] { context.removals.map(\.name) }

    static func check(_ inventory: Inventory) -> String {
        let unit = BridgeUnitRenderer(inventory: inventory).unitName
        return """
            for f in /etc/rancher/rke2 /var/lib/rancher/rke2 /usr/local/bin/rke2 /usr/local/bin/rke2-killall.sh /usr/local/bin/rke2-uninstall.sh \
                     /usr/local/lib/systemd/system/rke2-server.service /usr/local/lib/systemd/system/rke2-agent.service \
                     /etc/systemd/system/\(unit); do [ -e "$f" ] && echo "file $f"; done
            for d in /var/lib/kubelet /var/lib/parvester /etc/cni /var/lib/cni; do [ -n "$(ls -A "$d" 2>/dev/null)" ] && echo "file $d"; done
            for u in rke2-server rke2-agent \(unit); do
              systemctl is-active --quiet "$u" 2>/dev/null && echo "unit $u active"
              [ "$(systemctl is-enabled "$u" 2>/dev/null)" = enabled ] && echo "unit $u enabled"
            done
            [ -e /sys/class/net/\(inventory.bridge.name) ] && echo "link \(inventory.bridge.name)"
            true
            """
    }

    func run(_ context: RunContext) async throws {
        let check = Self.check(context.inventory)
        let dirty = context.cluster.leftDirty
        await context.forEach(context.removalNodes().filter { !dirty.contains($0.name) }) { node in
            await context.step(id, node) {
                let left = try await context.run(node, check, summary: "look for what RKE2 and Parvester left").stdoutText
                    .split(separator: "\n").map(String.init)
                guard left.isEmpty else { throw HostRefused("left on \(node.name): " + left.joined(separator: ", ")) }
                return .ok("nothing left")
            }
        }
    }
}

/// The local state of a reset cluster goes (kubeconfig, last report, pending removals); its token is kept
/// in a file of its own, named in the report: restoring a snapshot of this cluster needs it.
struct ForgetClusterPhase: Phase {
    let id = "forget-cluster"
    let title = "Remove the cluster's local state, keeping its token"

    func targets(_ context: RunContext) -> [String] { ["this machine"] }

    func run(_ context: RunContext) async throws {
        let state = context.options.stateDirectory
        let node = context.inventory.initialServer
        try await context.clusterStep(id) {
            // The full node-token (K10<CA hash>::server:<secret>) when the initial server still had it.
            let token = context.facts(node)?.nodeToken?.revealed ?? state.read(state.tokenPath).map { String(decoding: $0, as: UTF8.self) }
            var kept: String?
            if let token, !token.isEmpty {
                let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
                let path = state.path + "/token-before-reset-\(stamp)"
                try state.write(Data((token.trimmingCharacters(in: .whitespacesAndNewlines) + "\n").utf8), to: path)
                kept = path
                context.report.notice("the cluster's token is kept in \(path) (restoring a snapshot of this cluster needs it)")
            }
            var removed: [String] = []
            let names = (try? FileManager.default.contentsOfDirectory(atPath: state.path)) ?? []
            for name in names where ["kubeconfig", "kubeconfig.source-sha256", "last-run.json", "token"].contains(name) || name.hasPrefix("removal-") {
                if unlink(state.path + "/" + name) == 0 { removed.append(name) }
            }
            if removed.isEmpty && kept == nil { return .unchanged }
            return .changed("removed " + (removed.isEmpty ? "nothing" : removed.sorted().joined(separator: ", ")) + (kept.map { "; token kept in \($0)" } ?? ""))
        }
    }
}
