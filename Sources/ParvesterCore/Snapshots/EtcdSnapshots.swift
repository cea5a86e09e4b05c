import Foundation
import SSH

/// An etcd snapshot on a server, as RKE2 keeps them (file per snapshot in server/db/snapshots).
public struct RemoteSnapshot: Sendable, Codable, Equatable {
    public var name: String
    public var node: String
    public var path: String
    public var size: Int
    public var created: Date
    public var sha256: String
}

/// RKE2's etcd snapshots on the servers: taken with `rke2 etcd-snapshot save`, listed from the directory
/// (which answers with the service stopped too, unlike `rke2 etcd-snapshot ls`), and downloaded to the
/// state directory with what a restore needs.
enum EtcdSnapshots {
    /// RKE2's default; a `data-dir` elsewhere moves it (docs/upgrades.md).
    static let directory = "/var/lib/rancher/rke2/server/db/snapshots"
    /// Where RKE2's binary is found (tarball, read-only /usr/local, RPM).
    static let rke2 = "PATH=/usr/local/bin:/opt/rke2/bin:/usr/bin:$PATH rke2"

    static func list(_ context: RunContext, _ node: Node) async throws -> [RemoteSnapshot] {
        let command = """
            d=\(directory); [ -d "$d" ] || exit 0; cd "$d" || exit 1
            for f in *; do [ -f "$f" ] || continue; case "$f" in *.part|*.tmp) continue ;; esac
              s=$(sha256sum -- "$f") || continue; echo "$(stat -c '%s %Y' -- "$f") ${s%% *} $f"; done
            """
        let output = try await context.run(node, command, summary: "list the etcd snapshots in \(directory)")
        return output.stdoutText.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard parts.count == 4, let size = Int(parts[0]), let time = TimeInterval(parts[1]) else { return nil }
            return RemoteSnapshot(name: parts[3], node: node.name, path: directory + "/" + parts[3], size: size,
                                  created: Date(timeIntervalSince1970: time), sha256: parts[2])
        }
    }

    /// `rke2 etcd-snapshot save --name NAME` on a running server; RKE2 names the file NAME-NODE-UNIXTIME.
    static func save(_ context: RunContext, _ node: Node, name: String) async throws -> RemoteSnapshot {
        try await context.run(node, "\(rke2) etcd-snapshot save --name \(ShellQuote.quote(name))",
                              summary: "rke2 etcd-snapshot save --name \(name)", timeout: 900)
        guard let taken = try await list(context, node).filter({ $0.name.hasPrefix(name + "-") }).max(by: { $0.created < $1.created }) else {
            throw HostRefused("rke2 etcd-snapshot save reported success, but no snapshot named \(name)-* is in \(directory)")
        }
        return taken
    }

    /// Downloads a snapshot into the state directory, checked against the server's sha256, with the token
    /// and every reachable server's config.yaml beside it.
    @discardableResult
    static func download(_ context: RunContext, _ snapshot: RemoteSnapshot, from node: Node) async throws -> SnapshotBundle {
        let state = context.options.stateDirectory
        let data = try await context.read(snapshot.path, from: node, timeout: 3600)
        guard SHA256.hex(data) == snapshot.sha256 else {
            throw HostRefused("the download of \(snapshot.path) from \(node.name) does not match its sha256 there; run again")
        }
        var configs: [String: Data] = [:]
        for server in context.healthy(context.inventory.servers) where context.facts(server)?.fileHashes[RKE2ConfigRenderer.configPath] != nil {
            configs[server.name] = try await context.read(RKE2ConfigRenderer.configPath, from: server)
        }
        let token = try await TokenResolver.resolve(context)
        let bundle = SnapshotBundle(name: snapshot.name, node: node.name, remotePath: snapshot.path, size: data.count, sha256: snapshot.sha256,
                                    created: snapshot.created, rke2Version: context.state(of: node).runningVersion ?? context.facts(node)?.rke2Version)
        try SnapshotBundle.save(bundle, data: data, token: token.revealed, configs: configs, in: state)
        return bundle
    }
}
