import Foundation
import Kube
import SSH

/// Where a restore stands, kept in the state directory (`restore-progress.json`), so that a run killed
/// in the middle goes on from the step it reached rather than stopping the restored cluster again.
struct RestoreProgress: Codable, Sendable {
    var snapshot: String
    var done: [String] = []

    static func path(_ state: StateDirectory) -> String { state.path + "/restore-progress.json" }

    static func load(_ state: StateDirectory) -> RestoreProgress? {
        state.read(path(state)).flatMap { try? JSONDecoder().decode(RestoreProgress.self, from: $0) }
    }

    func save(_ state: StateDirectory) throws { try state.write(try JSONEncoder().encode(self), to: Self.path(state)) }

    static func clear(_ state: StateDirectory) { unlink(path(state)) }
}

/// Finds the snapshot to restore: on the initial server, on this machine (uploaded in the restore), or
/// on another server (downloaded, then uploaded). Refuses a second restore while one is unfinished.
struct ResolveSnapshotPhase: ReadOnlyPhase {
    let id = "find-snapshot"
    let title = "Find the snapshot"
    let name: String

    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }

    func run(_ context: RunContext) async throws {
        let state = context.options.stateDirectory
        if let progress = RestoreProgress.load(state), progress.snapshot != name {
            throw RunAbort("a restore of \(progress.snapshot) is unfinished (\(RestoreProgress.path(state))): run "
                           + "`parvester snapshot restore \(progress.snapshot)` to finish it first")
        }
        let initial = context.inventory.initialServer
        let result = await context.step(id, initial) {
            if let here = try await EtcdSnapshots.list(context, initial).first(where: { $0.name == name }) {
                context.updateCluster { $0.restoreSource = here }
                return .ok("\(here.path) on \(initial.name), \(here.size) bytes")
            }
            if let local = SnapshotBundle.load(state, name) {
                _ = try SnapshotBundle.verifiedData(local, in: state)
                context.updateCluster { $0.restoreSource = RemoteSnapshot(name: name, node: "local", path: SnapshotBundle.dataPath(state, name),
                                                                          size: local.size, created: local.created, sha256: local.sha256) }
                return .ok("on this machine (\(SnapshotBundle.dataPath(state, name))): uploaded to \(initial.name) first")
            }
            for server in context.healthy(context.inventory.joiningServers) {
                if let there = try await EtcdSnapshots.list(context, server).first(where: { $0.name == name }) {
                    if context.planning {
                        context.updateCluster { $0.restoreSource = there }
                        return .ok("on \(server.name): would be downloaded, and uploaded to \(initial.name)")
                    }
                    try await EtcdSnapshots.download(context, there, from: server)
                    context.updateCluster { $0.restoreSource = RemoteSnapshot(name: name, node: "local", path: SnapshotBundle.dataPath(state, name),
                                                                              size: there.size, created: there.created, sha256: there.sha256) }
                    return .ok("on \(server.name): downloaded, and uploaded to \(initial.name) first")
                }
            }
            throw HostRefused("no snapshot named \(name) on the servers or in \(SnapshotBundle.root(state)); `parvester snapshot list` shows them")
        }
        if !result.succeeded { throw RunAbort("the snapshot to restore was not found; nothing was changed") }
    }
}

/// RKE2's restore procedure (docs.rke2.io, backup_restore): stop every server; on the initial server,
/// `rke2 server --cluster-reset --cluster-reset-restore-path=SNAPSHOT` (it needs the token the snapshot's
/// data was encrypted with, which config.yaml holds); start it; on each other server, move the old etcd
/// data aside and start it, one at a time, each Ready before the next; then delete the Nodes Parvester
/// labelled that the inventory no longer names, and restart agents whose Node the snapshot predates.
struct RestorePhase: Phase {
    let id = "restore"
    let title = "Restore the snapshot"
    let name: String

    func targets(_ context: RunContext) -> [String] { context.inventory.nodes.map(\.name) }
    func note(_ context: RunContext) -> String? { "stops every server; they start again one at a time" }

    /// The steps `run` would take, node by node; those an earlier, interrupted run finished say so.
    func describe(_ context: RunContext) async throws {
        let progress = RestoreProgress.load(context.options.stateDirectory).flatMap { $0.snapshot == name ? $0 : nil }
        let finished = Set(progress?.done ?? [])
        let initial = context.inventory.initialServer
        func show(_ key: String, _ node: Node, _ work: String) async {
            await context.step(id, node) { finished.contains(key) ? .ok("done by an earlier run (\(key))") : .changed("would \(work)") }
        }
        if let source = context.cluster.restoreSource, source.node != initial.name {
            await show("upload", initial, "upload \(name) to \(EtcdSnapshots.directory)")
        }
        for server in context.inventory.servers { await show("stop-servers", server, "stop rke2-server (every server stops first)") }
        await show("cluster-reset", initial, "run rke2 server --cluster-reset from \(name), then start rke2-server on the restored data")
        for server in context.inventory.joiningServers {
            await show("rejoin-\(server.name)", server, "move its etcd data aside and start rke2-server, joining the restored cluster")
        }
        await show("nodes", initial, "delete the Nodes the inventory no longer names; restart agents the snapshot does not know")
    }

    func run(_ context: RunContext) async throws {
        let state = context.options.stateDirectory
        guard let source = context.cluster.restoreSource else { throw RunAbort("no snapshot to restore") }
        var progress = RestoreProgress.load(state) ?? RestoreProgress(snapshot: name)
        try progress.save(state)
        let initial = context.inventory.initialServer
        let servers = context.inventory.servers
        let unreachable = context.inventory.servers.filter { context.hasFailed($0) }
        guard unreachable.isEmpty else {
            throw RunAbort("every server takes part in a restore, and \(unreachable.map(\.name).joined(separator: ", ")) did not answer; nothing was changed")
        }
        let path = EtcdSnapshots.directory + "/" + name

        func stage(_ key: String, _ node: Node, _ work: () async throws -> RunContext.Done) async throws {
            guard !progress.done.contains(key) else {
                context.skip(id, node, "done by an earlier run (\(key))")
                return
            }
            let result = await context.step(id, node, work)
            guard result.succeeded else {
                throw RunAbort("the restore stopped at \(key) on \(node.name); run `parvester snapshot restore \(name)` again to go on from there")
            }
            progress.done.append(key)
            try progress.save(state)
        }

        if source.node == "local" {
            try await stage("upload", initial) {
                let remote = try await context.run(initial, "sha256sum \(ShellQuote.quote(path)) 2>/dev/null | cut -d' ' -f1", allowFailure: true).stdoutText
                if remote.trimmingCharacters(in: .whitespacesAndNewlines) == source.sha256 { return .unchanged }
                let transport = try await context.transport(for: initial)
                try await transport.writeFile(.file(source.path), to: path, mode: 0o600, become: initial.ssh.become, createDirectory: true,
                                              timeout: 3600, progress: nil)
                return .changed("uploaded \(name) to \(path)")
            }
        }
        if progress.done.contains("stop-servers") {
            for server in servers { context.skip(id, server, "done by an earlier run (stop-servers)") }
        } else {
            await context.forEach(servers) { server in
                await context.step(id, server) {
                    try await context.run(server, "systemctl stop rke2-server", timeout: 600)
                    return .changed("rke2-server stopped")
                }
            }
            if let failed = servers.first(where: { context.hasFailed($0) }) {
                throw RunAbort("\(failed.name) could not be stopped; run `parvester snapshot restore \(name)` again")
            }
            progress.done.append("stop-servers")
            try progress.save(state)
        }
        try await stage("cluster-reset", initial) {
            // A reset that finished before a kill left its flag: going on from it is the next step.
            let flag = try await context.run(initial, "test -e /var/lib/rancher/rke2/server/db/reset-flag", allowFailure: true)
            if flag.succeeded { return .ok("reset already (reset-flag present)") }
            try await context.run(initial, "\(EtcdSnapshots.rke2) server --cluster-reset --cluster-reset-restore-path=\(ShellQuote.quote(path))",
                                  summary: "rke2 server --cluster-reset --cluster-reset-restore-path=\(path)", timeout: 1800)
            return .changed("etcd restored from \(name); one member left")
        }
        try await stage("start-initial", initial) {
            try await context.run(initial, "systemctl start --no-block rke2-server")
            try await ServiceStarter.waitActive(context, initial, unit: "rke2-server")
            try context.setKubeconfig(try await KubeconfigSource.fetch(context, from: initial))
            guard let kube = context.kube else { throw RunAbort("no API client") }
            try await Waiter.until("the Kubernetes API at \(kube.credentials.server)", timeout: context.options.waitTimeout) {
                let response = try await kube.request("GET", "/readyz", accept: "text/plain")
                return (response.status == 200, "HTTP \(response.status)")
            }
            return .changed("rke2-server started on the restored data")
        }
        if context.kube == nil { _ = try await ClusterAccessPhase.reach(context, initial) }
        for server in context.inventory.joiningServers {
            try await stage("rejoin-\(server.name)", server) {
                // RKE2 says to delete it; moved aside instead, so nothing is lost.
                try await context.run(server, "systemctl stop rke2-server; d=/var/lib/rancher/rke2/server/db; "
                                      + "if [ -d \"$d\" ]; then mv \"$d\" \"$d.parvester-old-$(date +%s)\"; fi")
                try await context.run(server, "systemctl start --no-block rke2-server")
                try await ServiceStarter.waitActive(context, server, unit: "rke2-server")
                try await NodeReadiness.wait(context, for: [server.name])
                return .changed("old etcd data moved aside; joined the restored cluster")
            }
        }
        try await stage("nodes", initial) { try await reconcileNodes(context) }
        RestoreProgress.clear(state)
    }

    /// After the restore the API holds the Nodes of the snapshot's time: those Parvester labelled that the
    /// inventory no longer names are deleted; agents whose Node is missing (they joined later) restart,
    /// which registers them again.
    private func reconcileNodes(_ context: RunContext) async throws -> RunContext.Done {
        guard let kube = context.kube else { throw RunAbort("no API client after the restore") }
        let live = try await KubeNodes.list(kube)
        let names = Set(context.inventory.nodes.map(\.name))
        var changes: [String] = []
        for node in live where !names.contains(node.name) && node.labels[Ownership.clusterLabel] == context.inventory.cluster.name {
            let response = try await kube.request("DELETE", "/api/v1/nodes/\(node.name)")
            guard [200, 202, 404].contains(response.status) else { throw KubeError.status(response, doing: "deleting Node \(node.name)") }
            changes.append("deleted Node \(node.name)")
        }
        let present = Set(live.map(\.name))
        for agent in context.healthy(context.inventory.agents) where !present.contains(agent.name) {
            try await context.run(agent, "systemctl restart --no-block rke2-agent")
            try await ServiceStarter.waitActive(context, agent, unit: "rke2-agent")
            changes.append("restarted \(agent.name)")
        }
        if !changes.isEmpty { try await NodeReadiness.wait(context, for: context.healthy(context.inventory.nodes).map(\.name)) }
        return changes.isEmpty ? .unchanged : .changed(changes.joined(separator: ", "))
    }
}
