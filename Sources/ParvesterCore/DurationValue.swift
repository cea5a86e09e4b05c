import YAML

/// A duration written as seconds (`10`) or with a unit (`500ms`, `10s`, `2m`, `1h`).
public struct DurationValue: Sendable, Hashable, Decodable, CustomStringConvertible {
    public let milliseconds: Int

    public init(milliseconds: Int) { self.milliseconds = milliseconds }
    public static func seconds(_ s: Int) -> DurationValue { DurationValue(milliseconds: s * 1000) }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let seconds = try? container.decode(Int.self) {
            milliseconds = seconds * 1000
            return
        }
        let text = try container.decode(String.self)
        guard let parsed = Self.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "expected a duration such as 10s, 500ms or 2m, got \(text.debugDescription)"))
        }
        milliseconds = parsed
    }

    /// A duration as written on a command line: 500ms, 90s, 15m, 1h.
    public static func parsing(_ text: String) -> DurationValue? { parse(text).map { DurationValue(milliseconds: $0) } }

    static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, factor) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            if let value = Int(number), value >= 0, !number.hasPrefix("+") { return value * factor }
        }
        return nil
    }

    public var description: String {
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let s = milliseconds / 1000
        if s >= 60, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
