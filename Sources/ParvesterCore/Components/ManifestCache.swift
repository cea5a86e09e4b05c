import Foundation
import Kube
import SSH

/// Release manifests, downloaded once and kept by URL: `$PARVESTER_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/parvester/manifests`, else `~/.cache/parvester/manifests`. Each entry is the file
/// and its sha256; an entry that no longer matches its sha256 is refused. Offline, only the cache is used.
public struct ManifestCache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public static func `default`(environment: [String: String] = ProcessInfo.processInfo.environment) -> ManifestCache {
        if let explicit = environment["PARVESTER_CACHE_DIR"], !explicit.isEmpty { return ManifestCache(directory: explicit) }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return ManifestCache(directory: xdg + "/parvester/manifests") }
        return ManifestCache(directory: UserHome.path + "/.cache/parvester/manifests")
    }

    private func entry(_ url: String) -> String { directory + "/" + SHA256.hex(url) }

    /// The manifest at `url`: a local `file:///` path as it is; else downloaded (and cached), or with
    /// `offline` read from the cache only.
    public func text(for url: String, offline: Bool) async throws -> String {
        if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            guard let data = FileManager.default.contents(atPath: path) else { throw ManifestError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        if offline { return try cached(url) }
        let data = try await HTTPDownload.fetch(url)
        try store(data, for: url)
        return String(decoding: data, as: UTF8.self)
    }

    public func cached(_ url: String) throws -> String {
        let path = entry(url)
        guard let data = FileManager.default.contents(atPath: path + ".yaml"),
              let recorded = FileManager.default.contents(atPath: path + ".sha256") else {
            throw ManifestError("\(url) is not in the manifest cache (\(directory)); run `parvester fetch` where the network reaches it, or leave out --offline")
        }
        guard String(decoding: recorded, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == SHA256.hex(data) else {
            throw ManifestError("the cached copy of \(url) does not match its sha256; delete \(path).yaml and fetch again")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func store(_ data: Data, for url: String) throws {
        let state = StateDirectory(path: directory)
        try state.write(data, to: entry(url) + ".yaml")
        try state.write(Data(SHA256.hex(data).utf8), to: entry(url) + ".sha256")
        try state.write(Data((url + "\n").utf8), to: entry(url) + ".url")  // for people looking into the cache
    }
}

public struct ManifestError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
