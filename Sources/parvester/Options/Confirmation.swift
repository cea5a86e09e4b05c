import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Destructive commands ask on a terminal and, without one, go ahead only with --yes.
enum Confirmation {
    /// Returns when the user agreed (or gave --yes); throws an exit otherwise.
    static func require(_ question: String, yes: Bool, terminal: Terminal) throws {
        if yes { return }
        guard isatty(STDIN_FILENO) == 1 else {
            terminal.error("\(question): no terminal to ask on; pass --yes to go ahead (`parvester plan` shows what would change)")
            throw ExitCodes.failure
        }
        FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
        let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard answer == "y" || answer == "yes" else {
            terminal.error("not confirmed; nothing was changed")
            throw ExitCodes.failure
        }
    }
}
