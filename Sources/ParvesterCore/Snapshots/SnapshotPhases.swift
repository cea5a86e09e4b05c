import Foundation

/// Takes an etcd snapshot on the initial server and downloads it to the state directory. Before an
/// upgrade (`preUpgrade`) it runs only when a node in the cluster changes version, and a snapshot taken
/// for the same target by an interrupted run is reused: it holds the cluster as it was before the roll.
struct SnapshotSavePhase: Phase {
    let id = "snapshot"
    var title: String { preUpgrade ? "Take an etcd snapshot before the upgrade" : "Take an etcd snapshot" }
    /// The snapshot's name; RKE2 adds the node and the time.
    var name: String?
    var preUpgrade = false

    static func preUpgradeName(_ version: String) -> String { "parvester-pre-upgrade-" + version.replacingOccurrences(of: "+", with: "-") }

    private func snapshotName(_ context: RunContext) -> String {
        preUpgrade ? Self.preUpgradeName(context.inventory.cluster.version) : (name ?? "parvester-on-demand")
    }

    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }
    func note(_ context: RunContext) -> String? { "downloaded to \(SnapshotBundle.root(context.options.stateDirectory))" }

    func shouldRun(_ context: RunContext) -> Bool {
        guard preUpgrade else { return true }
        let target = context.inventory.cluster.version
        return context.inventory.nodes.contains { context.state(of: $0).inCluster && context.state(of: $0).runningVersion != target }
    }

    func describe(_ context: RunContext) async throws {
        let node = context.inventory.initialServer
        let name = snapshotName(context)
        await context.step(id, node) {
            if preUpgrade, let kept = SnapshotBundle.list(context.options.stateDirectory).first(where: { $0.name.hasPrefix(name + "-") }) {
                return .ok("kept from an earlier run: \(kept.name)")
            }
            return .changed("would save etcd snapshot \(name)-\(node.name)-<time> and download it")
        }
    }

    func run(_ context: RunContext) async throws {
        let node = context.inventory.initialServer
        let name = snapshotName(context)
        let state = context.options.stateDirectory
        let result = await context.step(id, node) {
            if preUpgrade {
                if let kept = SnapshotBundle.list(state).first(where: { $0.name.hasPrefix(name + "-") }) {
                    return .ok("kept from an earlier run: \(kept.name)")
                }
                // Taken by a run killed before its download: still the cluster before the roll.
                if let taken = try await EtcdSnapshots.list(context, node).filter({ $0.name.hasPrefix(name + "-") }).max(by: { $0.created < $1.created }) {
                    let bundle = try await EtcdSnapshots.download(context, taken, from: node)
                    return .changed("downloaded \(bundle.name) (taken by an earlier run), \(bundle.size) bytes, sha256 \(bundle.sha256.prefix(12))…")
                }
            }
            let taken = try await EtcdSnapshots.save(context, node, name: name)
            let bundle = try await EtcdSnapshots.download(context, taken, from: node)
            return .changed("\(bundle.name), \(bundle.size) bytes, sha256 \(bundle.sha256.prefix(12))…, in \(SnapshotBundle.root(state))")
        }
        if !result.succeeded {
            throw RunAbort(preUpgrade ? "no snapshot could be taken before the upgrade; nothing was upgraded" : "the snapshot failed")
        }
    }
}

/// Reads the snapshots on every server (their sizes, times and sha256) for `snapshot list`.
struct SnapshotListPhase: ReadOnlyPhase {
    let id = "list-snapshots"
    let title = "List etcd snapshots"
    func targets(_ context: RunContext) -> [String] { context.inventory.servers.map(\.name) }

    func run(_ context: RunContext) async throws {
        await context.forEach(context.healthy(context.inventory.servers)) { node in
            await context.step(id, node) {
                let found = try await EtcdSnapshots.list(context, node)
                context.updateCluster { $0.remoteSnapshots += found }
                return .ok("\(found.count) snapshot(s)")
            }
        }
    }
}
