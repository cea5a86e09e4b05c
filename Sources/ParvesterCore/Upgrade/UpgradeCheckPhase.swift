import Foundation
import Kube

/// Before anything changes: which nodes are in the cluster already and which RKE2 each runs (its Node's
/// kubeletVersion, else the installed binary), refusing a downgrade or a skipped minor version, and airgap
/// artifacts of another version than the inventory's.
struct UpgradeCheckPhase: ReadOnlyPhase {
    let id = "check-upgrade"
    let title = "Check versions against the cluster"

    func note(_ context: RunContext) -> String? { "target RKE2 \(context.inventory.cluster.version)" }

    func run(_ context: RunContext) async throws {
        let inventory = context.inventory
        let target = inventory.cluster.version
        guard let wanted = RKE2Version(target) else { throw RunAbort("cluster.version \(target) is not an RKE2 release") }
        let nodes = context.healthy(inventory.nodes)
        let live = try await liveNodes(context)
        var problems: [String] = []
        for node in nodes {
            let facts = context.facts(node)
            let active = facts?.runsRKE2 == true
            // Stopped (an interrupted roll, a crash) but holding a cluster's data: still a member.
            let member = facts?.holdsClusterData(as: node.role) == true
            let registered = live[node.name]
            let running = registered.flatMap { $0.kubeletVersion.isEmpty ? nil : $0.kubeletVersion } ?? (active ? facts?.rke2Version : nil)
            context.update(node) {
                $0.inCluster = registered != nil || active || member
                $0.runningVersion = running
                $0.cordonedByRoll = registered.map { $0.annotations[NodeDrainer.cordonMark] != nil || $0.annotations[NodeDrainer.stoppedMachinesMark] != nil } ?? false
            }
            // The binary counts too: one left newer than the target by a failed or foreign install is a downgrade.
            for version in Set([running, facts?.rke2Version].compactMap { $0 }) {
                guard let have = RKE2Version(version) else { continue }
                if let problem = UpgradePath.problem(node: node.name, running: have, target: wanted) { problems.append(problem) }
            }
        }
        if !problems.isEmpty {
            throw RunAbort(problems.joined(separator: "\n") + "\nNothing was changed")
        }
        try checkArtifacts(context, nodes: nodes)
        for node in nodes {
            let state = context.state(of: node)
            await context.step(id, node) {
                guard state.inCluster else { return .ok("not in the cluster yet: installs \(target)") }
                guard let running = state.runningVersion, running != target else { return .ok("runs \(target)") }
                return .ok("runs \(running): rolls to \(target)")
            }
        }
    }

    /// The Nodes of the cluster, when there is one to ask: none of the nodes runs RKE2 yet, or the API
    /// does not answer (then the binaries tell).
    private func liveNodes(_ context: RunContext) async throws -> [String: KubeNodeInfo] {
        let running = context.healthy(context.inventory.servers).contains { context.facts($0)?.isActive("rke2-server") == true }
        guard running else { return [:] }
        do {
            _ = try await ClusterAccessPhase.reach(context, context.inventory.initialServer)
            guard let kube = context.kube else { return [:] }
            return Dictionary(try await KubeNodes.list(kube).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        } catch {
            context.report.notice("the cluster's API did not answer (\(RunContext.describe(error))): versions are read from the installed binaries")
            return [:]
        }
    }

    /// Airgap artifacts of another release would install the wrong RKE2 on every node: refused here,
    /// before any node is touched, when a node needs them.
    private func checkArtifacts(_ context: RunContext, nodes: [Node]) throws {
        guard case .airgap(let directory) = context.inventory.cluster.install else { return }
        let target = context.inventory.cluster.version
        guard nodes.contains(where: { context.facts($0)?.rke2Version != target }) else { return }
        let found: String?
        do {
            found = try AirgapArtifactsVersion.read(directory: directory)
        } catch {
            context.report.notice("the version of the airgap artifacts in \(directory) could not be read (\(error)); the install checks them")
            return
        }
        guard let found else {
            context.report.notice("\(directory)/\(AirgapArtifactsVersion.tarball) names no RKE2 release; the install checks it")
            return
        }
        if found != target {
            throw RunAbort("the airgap artifacts in \(directory) are RKE2 \(found), but cluster.version is \(target). "
                           + "Run `parvester fetch -i \(context.inventory.file)` to download \(target)'s artifacts, or point "
                           + "cluster.install.artifactsDir at them; nothing was changed")
        }
    }
}
