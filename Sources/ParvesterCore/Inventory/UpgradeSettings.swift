import YAML

/// The inventory's `upgrade:` section: how a roll (a version change, or configuration that needs a restart)
/// takes nodes out of service.
public struct UpgradeSettings: Sendable, Equatable {
    /// Agents restarted at once: a count, or a percentage of the agents (at least one).
    public var maxUnavailable = MaxUnavailable.count(1)
    /// Drain each node (the Eviction API) before its restart, not only cordon it.
    public var drain = false
    /// VMs on a node to drain: local-path disks cannot live-migrate, so they are refused or stopped
    /// (and started again once the node is back).
    public var vms = RemovalSettings.VMPolicy.refuse

    public init(maxUnavailable: MaxUnavailable = .count(1), drain: Bool = false, vms: RemovalSettings.VMPolicy = .refuse) {
        self.maxUnavailable = maxUnavailable
        self.drain = drain
        self.vms = vms
    }
}

/// `maxUnavailable: 2` or `maxUnavailable: "10%"`; a percentage rounds down, as Kubernetes' rolling
/// updates round it, but never below one node.
public enum MaxUnavailable: Sendable, Equatable, Decodable, CustomStringConvertible {
    case count(Int)
    case percent(Int)

    public func batchSize(of total: Int) -> Int {
        switch self {
        case .count(let n): return max(1, min(n, max(total, 1)))
        case .percent(let p): return max(1, total * p / 100)
        }
    }

    public var description: String {
        switch self {
        case .count(let n): return String(n)
        case .percent(let p): return "\(p)%"
        }
    }

    public static func parse(_ text: String) -> MaxUnavailable? {
        if text.hasSuffix("%"), let p = Int(text.dropLast()), (1...100).contains(p) { return .percent(p) }
        if let n = Int(text), n >= 1 { return .count(n) }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try (try? container.decode(Int.self)).map(String.init) ?? container.decode(String.self)
        guard let value = Self.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "maxUnavailable must be a number of agents (at least 1) or a percentage such as \"10%\", got \(text.quoted)"))
        }
        self = value
    }
}

