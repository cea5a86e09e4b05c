import Foundation
import Kube
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where output goes: results to stdout, problems to stderr; colour only on a terminal, and never
/// when NO_COLOR is set. Credentials inside URLs never reach either.
struct Terminal {
    let colourOut: Bool
    let colourErr: Bool
    /// Whether stdout is a terminal (whatever NO_COLOR says): secrets are never printed to one.
    let stdoutIsTerminal: Bool

    init() {
        let allowed = getenv("NO_COLOR") == nil && (getenv("TERM").map { String(cString: $0) } ?? "") != "dumb"
        stdoutIsTerminal = isatty(STDOUT_FILENO) == 1
        colourOut = allowed && stdoutIsTerminal
        colourErr = allowed && isatty(STDERR_FILENO) == 1
    }

    /// Written at once, also into a pipe (`| tee`, a CI log): a run's lines appear as they happen.
    func print(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((URLCredentials.redacted(in: text) + terminator).utf8))
    }

    func error(_ text: String) {
        let line = (colourErr ? "\u{1B}[31merror:\u{1B}[0m " : "error: ") + URLCredentials.redacted(in: text) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// A line for the person at the terminal, on stderr so that stdout stays what scripts read.
    func hint(_ text: String) {
        FileHandle.standardError.write(Data((dim(text) + "\n").utf8))
    }

    func warning(_ text: String) {
        let line = (colourErr ? "\u{1B}[33mwarning:\u{1B}[0m " : "warning: ") + URLCredentials.redacted(in: text) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func style(_ code: String, _ text: String) -> String { colourOut ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
    func bold(_ text: String) -> String { style("1", text) }
    func dim(_ text: String) -> String { style("2", text) }
    func green(_ text: String) -> String { style("32", text) }
    func yellow(_ text: String) -> String { style("33", text) }
    func red(_ text: String) -> String { style("31", text) }
}
