import ArgumentParser

/// Exit codes are part of the interface (README, docs/troubleshooting.md); scripts rely on them.
enum ExitCodes {
    static let failure = ExitCode(1)
    /// The inventory was refused; nothing was touched.
    static let invalidInventory = ExitCode(2)
}
