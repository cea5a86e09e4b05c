import ArgumentParser
import ParvesterCore

/// Duration flags (`--wait-timeout 15m`) parsed while the command line is parsed, the same way in every
/// command: a bad value fails there, with the command's own usage and exit status 64, before anything runs.
enum DurationFlag {
    /// A duration from 1s to `DurationValue.maximum`.
    static func positive(_ text: String) throws -> DurationValue {
        switch DurationValue.parse(text) {
        case .success(let ms) where ms >= 1000: return DurationValue(milliseconds: ms)
        case .success: throw ValidationError("\(text) is too short: give at least 1s (up to \(DurationValue.maximum))")
        case .failure(let problem): throw ValidationError(problem.description)
        }
    }

    /// A duration from 100ms (keepalive intervals, which tests shorten).
    static func short(_ text: String) throws -> DurationValue {
        switch DurationValue.parse(text) {
        case .success(let ms) where ms >= 100: return DurationValue(milliseconds: ms)
        case .success: throw ValidationError("\(text) is too short: give at least 100ms (up to \(DurationValue.maximum))")
        case .failure(let problem): throw ValidationError(problem.description)
        }
    }
}

extension AccessMode: ExpressibleByArgument {}
