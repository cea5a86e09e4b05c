import ArgumentParser

/// Exit codes are part of the interface (README, docs/troubleshooting.md); scripts rely on them.
enum ExitCodes {
    static let failure = ExitCode(1)
    /// The inventory was refused; nothing was touched.
    static let invalidInventory = ExitCode(2)
    /// `plan --detailed-exitcode`: the plan has changes (Terraform's convention).
    static let changesPending = ExitCode(3)
    /// The command line asks for something that cannot be done as asked (EX_USAGE).
    static let usage = ExitCode(64)
}
