import Foundation
import Kube

/// Downloads RKE2's airgap artifacts for one version, the way the RKE2 docs have users do it by hand:
/// the install script from get.rke2.io and the release's tarball, image archive and
/// `sha256sum-amd64.txt` from GitHub. Each version's files are kept in a cache directory of their own
/// (`cache`/VERSION), then put in the inventory's `artifactsDir`; so a directory is never labelled with a
/// version it does not hold, and going back to a version already fetched needs no network. Every
/// archive is checked against the sum file before it takes its place; files already there and matching
/// are left alone, so a re-run after an interruption downloads only what is missing.
public struct RKE2ArtifactFetcher: Sendable {
    public static let releasesURL = "https://github.com/rancher/rke2/releases/download"
    public static let sumsName = "sha256sum-amd64.txt"
    public static let archiveNames = ["rke2.linux-amd64.tar.gz", "rke2-images.linux-amd64.tar.zst"]
    public static let scriptName = "install.sh"

    public let version: String
    /// The inventory's `cluster.install.artifactsDir`: what `up` uploads.
    public let directory: String
    public let mirror: String?
    /// Where versions are kept side by side; nil works in `directory` alone.
    public let cache: String?

    public init(version: String, directory: String, mirror: String?, cache: String? = nil) {
        self.version = version
        self.directory = directory
        self.mirror = mirror
        self.cache = cache
    }

    /// This version's own directory in the cache.
    public var versionDirectory: String { cache.map { $0 + "/" + version } ?? directory }

    /// Where a file comes from: GitHub's release path writes the version's `+` as `%2B`.
    public func url(for name: String) -> String {
        if name == Self.scriptName { return ComponentKind.mirrored(Cluster.defaultInstallScriptURL, through: mirror) }
        let encoded = version.replacingOccurrences(of: "+", with: "%2B")
        return ComponentKind.mirrored("\(Self.releasesURL)/\(encoded)/\(name)", through: mirror)
    }

    /// Downloads what is missing or different. `progress` gets (file, received, total) during downloads.
    public func fetch(progress: (@Sendable (String, Int64, Int64) -> Void)? = nil) async throws -> [FetchedFile] {
        let target = versionDirectory
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let sumsURL = url(for: Self.sumsName)
        let sumsData = try await HTTPDownload.fetch(sumsURL)
        let sums = Self.parseSums(String(decoding: sumsData, as: UTF8.self))
        var fetched: [FetchedFile] = []
        for name in Self.archiveNames {
            guard let expected = sums[name] else {
                throw FetchError("\(sumsURL) lists no sha256 for \(name); is \(version) an RKE2 release with amd64 artifacts?")
            }
            let path = target + "/" + name
            if FileManager.default.fileExists(atPath: path), try SHA256.hex(fileAt: path) == expected {
                fetched.append(FetchedFile(name: name, url: url(for: name), outcome: .unchanged, bytes: Self.size(path), sha256: expected))
                continue
            }
            let partial = target + "/." + name + ".parvester-partial"
            let bytes = try await HTTPDownload.download(url(for: name), to: partial) { received, total in progress?(name, received, total) }
            let actual = try SHA256.hex(fileAt: partial)
            guard actual == expected else {
                try? FileManager.default.removeItem(atPath: partial)
                throw FetchError("\(url(for: name)) has sha256 \(actual), but \(Self.sumsName) says \(expected): the download is corrupt or was tampered with; nothing was kept")
            }
            try Self.replace(path, with: partial)
            fetched.append(FetchedFile(name: name, url: url(for: name), outcome: .fetched, bytes: bytes, sha256: actual))
        }
        fetched.append(try fetchReplacingIfDifferent(Self.scriptName, data: try await HTTPDownload.fetch(url(for: Self.scriptName)), mode: 0o755, in: target))
        // The sums last: until every archive matches them, the directory keeps the old pair consistent.
        fetched.append(try fetchReplacingIfDifferent(Self.sumsName, data: sumsData, mode: 0o644, in: target))
        guard cache != nil else { return fetched }
        let placed = try placeInDirectory()
        return fetched.map { file in
            var file = file
            if file.outcome == .unchanged, placed.contains(file.name) { file.outcome = .fromCache }
            return file
        }
    }

    /// Checks, without any network, that the directory holds a complete, consistent set of this version:
    /// put there from the cache when the cache has it.
    public func verify() throws -> [FetchedFile] {
        var placed: Set<String> = []
        if cache != nil, (try? check(versionDirectory)) != nil { placed = try placeInDirectory() }
        return try check(directory).map { file in
            var file = file
            if placed.contains(file.name) { file.outcome = .fromCache }
            return file
        }
    }

    /// A complete set of this version in `path`, or why not.
    private func check(_ path: String) throws -> [FetchedFile] {
        let sumsPath = path + "/" + Self.sumsName
        guard let sumsData = FileManager.default.contents(atPath: sumsPath) else {
            throw FetchError("\(sumsPath) is missing: run `parvester fetch` where the network reaches the RKE2 release")
        }
        let sums = Self.parseSums(String(decoding: sumsData, as: UTF8.self))
        var files: [FetchedFile] = []
        for name in Self.archiveNames + [Self.scriptName] {
            let file = path + "/" + name
            guard FileManager.default.fileExists(atPath: file) else {
                throw FetchError("\(file) is missing: run `parvester fetch` where the network reaches the RKE2 release")
            }
            let actual = try SHA256.hex(fileAt: file)
            if let expected = sums[name], expected != actual {
                throw FetchError("\(file) has sha256 \(actual), but \(Self.sumsName) says \(expected): run `parvester fetch` again")
            }
            files.append(FetchedFile(name: name, url: url(for: name), outcome: .cached, bytes: Self.size(file), sha256: actual))
        }
        if let found = try? AirgapArtifactsVersion.read(directory: path), found != version {
            throw FetchError("\(path) holds RKE2 \(found)'s artifacts, not \(version)'s: run `parvester fetch` where the network reaches the RKE2 release")
        }
        files.append(FetchedFile(name: Self.sumsName, url: url(for: Self.sumsName), outcome: .cached, bytes: Int64(sumsData.count),
                                 sha256: SHA256.hex(sumsData)))
        return files
    }

    /// Copies this version's cached files into `directory` where they differ, each by rename (the sums
    /// last); returns the names copied.
    private func placeInDirectory() throws -> Set<String> {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var placed: Set<String> = []
        for name in Self.archiveNames + [Self.scriptName, Self.sumsName] {
            let source = versionDirectory + "/" + name, path = directory + "/" + name
            if FileManager.default.fileExists(atPath: path), try SHA256.hex(fileAt: path) == SHA256.hex(fileAt: source) { continue }
            let partial = directory + "/." + name + ".parvester-partial"
            try? FileManager.default.removeItem(atPath: partial)
            try FileManager.default.copyItem(atPath: source, toPath: partial)
            try Self.replace(path, with: partial)
            placed.insert(name)
        }
        return placed
    }

    private func fetchReplacingIfDifferent(_ name: String, data: Data, mode: Int, in directory: String) throws -> FetchedFile {
        let path = directory + "/" + name
        let hash = SHA256.hex(data)
        if let existing = FileManager.default.contents(atPath: path), existing == data {
            return FetchedFile(name: name, url: url(for: name), outcome: .unchanged, bytes: Int64(data.count), sha256: hash)
        }
        let partial = directory + "/." + name + ".parvester-partial"
        try data.write(to: URL(fileURLWithPath: partial))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: partial)
        try Self.replace(path, with: partial)
        return FetchedFile(name: name, url: url(for: name), outcome: .fetched, bytes: Int64(data.count), sha256: hash)
    }

    /// `rename(2)`: the file is the old one or the new one, never a partial one.
    private static func replace(_ path: String, with partial: String) throws {
        guard rename(partial, path) == 0 else {
            throw FetchError("cannot move \(partial) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func size(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// `sha256sum` output: `HASH  NAME` per line (a `*` before the name marks binary mode).
    static func parseSums(_ text: String) -> [String: String] {
        var sums: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].count == 64 else { continue }
            var name = parts[1].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("*") { name.removeFirst() }
            sums[name] = String(parts[0]).lowercased()
        }
        return sums
    }
}

/// One file `parvester fetch` dealt with.
public struct FetchedFile: Sendable, Encodable {
    public enum Outcome: String, Sendable, Encodable {
        /// Downloaded and put in place.
        case fetched
        /// Already there with the right content: left alone.
        case unchanged
        /// Found in the cache or directory without going to the network (`--offline`).
        case cached
        /// Put in the artifacts directory from this version's copy in the cache, without a download.
        case fromCache = "from-cache"
    }
    public var name: String
    public var url: String
    public var outcome: Outcome
    public var bytes: Int64
    public var sha256: String
}

public struct FetchError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
