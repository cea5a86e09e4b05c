/// An RKE2 release, `v1.28.11+rke2r1` (or `v1.29.0-rc1+rke2r1`), ordered as releases are.
public struct RKE2Version: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int
    /// A release candidate's number; nil for a release (which sorts after its candidates).
    public let candidate: Int?
    public let revision: Int
    public let description: String

    nonisolated(unsafe) private static let pattern = try! Regex(#"^v([0-9]+)\.([0-9]+)\.([0-9]+)(?:-rc([0-9]+))?\+rke2r([0-9]+)$"#)

    public init?(_ text: String) {
        guard let match = text.wholeMatch(of: Self.pattern),
              let major = match.output[1].substring.flatMap({ Int($0) }), let minor = match.output[2].substring.flatMap({ Int($0) }),
              let patch = match.output[3].substring.flatMap({ Int($0) }), let revision = match.output[5].substring.flatMap({ Int($0) })
        else { return nil }
        self.major = major
        self.minor = minor
        self.patch = patch
        self.candidate = match.output[4].substring.flatMap { Int($0) }
        self.revision = revision
        self.description = text
    }

    /// `v1.28`: what the skew rules speak of.
    public var minorLine: String { "v\(major).\(minor)" }

    public static func < (a: RKE2Version, b: RKE2Version) -> Bool {
        let left = (a.major, a.minor, a.patch, a.candidate ?? Int.max, a.revision)
        let right = (b.major, b.minor, b.patch, b.candidate ?? Int.max, b.revision)
        return left < right
    }
}

/// RKE2's rule for upgrades: never down, and one minor version at a time (Kubernetes' version skew
/// policy: control planes at most one minor apart while they roll).
public enum UpgradePath {
    /// Why `node` cannot go from `running` to `target`, or nil when it can.
    public static func problem(node: String, running: RKE2Version, target: RKE2Version) -> String? {
        if target < running {
            return "\(node) runs RKE2 \(running) and the inventory asks for \(target): RKE2 cannot be downgraded. "
                + "To go back, restore an etcd snapshot taken before the upgrade (`parvester snapshot list`, docs/upgrades.md)"
        }
        if target.major != running.major || target.minor > running.minor + 1 {
            return "\(node) runs RKE2 \(running) and the inventory asks for \(target): RKE2 upgrades one minor version at a time. "
                + "Upgrade through \(steps(from: running, to: target).joined(separator: " → ")), running `parvester up` at each"
        }
        return nil
    }

    /// `v1.28 → v1.29 → v1.30`.
    static func steps(from: RKE2Version, to: RKE2Version) -> [String] {
        guard from.major == to.major else { return [from.minorLine, to.minorLine] }
        return (from.minor...to.minor).map { "v\(from.major).\($0)" }
    }
}
