import YAML

/// A duration written as seconds (`10`) or with a unit (`500ms`, `10s`, `2m`, `1h`). Every duration is at
/// most `DurationValue.maximum` (24h): larger values are typos, and arithmetic on them would overflow.
public struct DurationValue: Sendable, Hashable, Comparable, Decodable, CustomStringConvertible {
    public let milliseconds: Int

    /// The longest duration any field or flag takes.
    public static let maximum = DurationValue(milliseconds: 24 * 3_600_000)

    public init(milliseconds: Int) { self.milliseconds = milliseconds }
    public static func seconds(_ s: Int) -> DurationValue { DurationValue(milliseconds: s * 1000) }
    public static func < (a: DurationValue, b: DurationValue) -> Bool { a.milliseconds < b.milliseconds }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let parsed: Result<Int, Problem>
        if let seconds = try? container.decode(Int.self) {
            parsed = Self.scaled(seconds, by: 1000, text: String(seconds))
        } else {
            parsed = Self.parse(try container.decode(String.self))
        }
        switch parsed {
        case .success(let value): milliseconds = value
        case .failure(let problem):
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem.description))
        }
    }

    /// Why a text is not a duration.
    public enum Problem: Error, CustomStringConvertible, Equatable {
        case notADuration(String)
        case tooLong(String)

        public var description: String {
            switch self {
            case .notADuration(let text):
                "expected a duration such as 10s, 500ms or 2m, got \(text.quoted)"
            case .tooLong(let text):
                "\(text.quoted) is longer than the maximum of \(DurationValue.maximum); durations go from 0s to \(DurationValue.maximum)"
            }
        }
    }

    /// Parses a duration, refusing malformed text and anything over `maximum`.
    public static func parse(_ text: String) -> Result<Int, Problem> {
        let units: [(String, Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, factor) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
            // Digits beyond Int's range are a long duration, not a malformed one.
            guard let value = Int(number) else { return .failure(.tooLong(text)) }
            return scaled(value, by: factor, text: text)
        }
        return .failure(.notADuration(text))
    }

    private static func scaled(_ value: Int, by factor: Int, text: String) -> Result<Int, Problem> {
        guard value >= 0 else { return .failure(.notADuration(text)) }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        guard !overflow, product <= maximum.milliseconds else { return .failure(.tooLong(text)) }
        return .success(product)
    }

    public var description: String {
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let s = milliseconds / 1000
        if s >= 3600, s % 3600 == 0 { return "\(s / 3600)h" }
        if s >= 60, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
