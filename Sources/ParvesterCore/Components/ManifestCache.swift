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
    /// `offline` read from the cache only. With a pinned sha256, bytes that differ are refused, wherever
    /// they came from.
    public func text(for url: String, offline: Bool, pinned: String? = nil) async throws -> String {
        String(decoding: try await data(for: url, offline: offline, pinned: pinned), as: UTF8.self)
    }

    public func data(for url: String, offline: Bool, pinned: String? = nil) async throws -> Data {
        let data: Data
        if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            guard let contents = FileManager.default.contents(atPath: path) else { throw ManifestError("cannot read \(path)") }
            data = contents
        } else if offline {
            data = try cached(url)
        } else {
            data = try await HTTPDownload.fetch(url)
            try Self.check(data, of: url, against: pinned)
            try store(data, for: url)
            return data
        }
        try Self.check(data, of: url, against: pinned)
        return data
    }

    /// For `parvester fetch`: the manifest downloaded again (or, offline, found in the cache), checked
    /// against its pin and kept; `unchanged` when the cache already held exactly these bytes.
    public func refresh(_ url: String, offline: Bool, pinned: String?) async throws -> FetchedFile {
        let before = try? cached(url)
        let data = try await self.data(for: url, offline: offline, pinned: pinned)
        let outcome: FetchedFile.Outcome = offline || url.hasPrefix("file://") ? .cached : (before == data ? .unchanged : .fetched)
        return FetchedFile(name: url.split(separator: "/").last.map(String.init) ?? url, url: url, outcome: outcome,
                           bytes: Int64(data.count), sha256: SHA256.hex(data))
    }

    static func check(_ data: Data, of url: String, against pinned: String?) throws {
        guard let pinned else { return }
        let actual = SHA256.hex(data)
        guard actual == pinned else {
            throw ManifestError("\(url) has sha256 \(actual), but the inventory pins \(pinned): it changed at its source or on the way; nothing was applied. Check the release, then update the pin")
        }
    }

    public func cached(_ url: String) throws -> Data {
        let path = entry(url)
        guard let data = FileManager.default.contents(atPath: path + ".yaml"),
              let recorded = FileManager.default.contents(atPath: path + ".sha256") else {
            throw ManifestError("\(url) is not in the manifest cache (\(directory)); run `parvester fetch` where the network reaches it, or leave out --offline")
        }
        guard String(decoding: recorded, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == SHA256.hex(data) else {
            throw ManifestError("the cached copy of \(url) does not match its sha256; delete \(path).yaml and fetch again")
        }
        return data
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
