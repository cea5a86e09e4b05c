import Foundation

/// An etcd snapshot kept on this machine, with what a restore needs beside it: the cluster token (the
/// snapshot's bootstrap data is encrypted with it) and each server's RKE2 configuration. One directory
/// per snapshot under the state directory's `snapshots/`, every file 0600; `snapshot.json` is written
/// last, so a bundle without it is an interrupted download and is not listed.
public struct SnapshotBundle: Sendable, Codable {
    /// The snapshot's file name, as RKE2 wrote it: NAME-NODE-UNIXTIME.
    public var name: String
    /// The server it was taken on, and where it lies there.
    public var node: String
    public var remotePath: String
    public var size: Int
    public var sha256: String
    public var created: Date
    public var rke2Version: String?

    static let metadataFile = "snapshot.json"
    static let dataFile = "snapshot"

    static func root(_ state: StateDirectory) -> String { state.path + "/snapshots" }
    static func directory(_ state: StateDirectory, _ name: String) -> StateDirectory { StateDirectory(path: root(state) + "/" + name) }

    /// The complete bundles, newest first.
    public static func list(_ state: StateDirectory) -> [SnapshotBundle] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root(state))) ?? []
        return names.compactMap { load(state, $0) }.sorted { $0.created > $1.created }
    }

    public static func load(_ state: StateDirectory, _ name: String) -> SnapshotBundle? {
        let directory = directory(state, name)
        guard let data = directory.read(directory.path + "/" + metadataFile) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(SnapshotBundle.self, from: data)
    }

    public static func dataPath(_ state: StateDirectory, _ name: String) -> String { directory(state, name).path + "/" + dataFile }

    /// Writes the snapshot's bytes, the token and the servers' configurations, then the metadata.
    static func save(_ bundle: SnapshotBundle, data: Data, token: String?, configs: [String: Data], in state: StateDirectory) throws {
        let directory = directory(state, bundle.name)
        try directory.write(data, to: directory.path + "/" + dataFile)
        if let token { try directory.write(Data((token + "\n").utf8), to: directory.path + "/token") }
        for (server, config) in configs.sorted(by: { $0.key < $1.key }) {
            try directory.write(config, to: directory.path + "/config-\(server).yaml")
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try directory.write(try encoder.encode(bundle), to: directory.path + "/" + metadataFile)
    }

    /// The bundle's bytes, checked against the sha256 recorded when it was downloaded.
    static func verifiedData(_ bundle: SnapshotBundle, in state: StateDirectory) throws -> Data {
        guard let data = directory(state, bundle.name).read(dataPath(state, bundle.name)) else {
            throw HostRefused("the local copy of snapshot \(bundle.name) has no data file (\(dataPath(state, bundle.name)))")
        }
        guard SHA256.hex(data) == bundle.sha256 else {
            throw HostRefused("the local copy of snapshot \(bundle.name) does not match its recorded sha256 \(bundle.sha256): it was changed or damaged")
        }
        return data
    }
}
