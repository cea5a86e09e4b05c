import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The terminal in raw mode for `vm console` (every key, Ctrl+C included, goes to the VM), put back as
/// it was on every way out: a normal return, an error, and SIGTERM, SIGHUP or SIGQUIT, whose handler
/// restores it before the process ends.
enum RawTerminal {
    nonisolated(unsafe) private static var saved = termios()
    nonisolated(unsafe) private static var active = false

    /// Runs `body` with stdin in raw mode when it is a terminal; otherwise runs it as it is.
    static func with<T>(_ body: (_ raw: Bool) throws -> T) rethrows -> T {
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &saved) == 0 else { return try body(false) }
        var raw = saved
        // Output too: the VM's serial line sends its own CRLFs, as virtctl passes them.
        cfmakeraw(&raw)
        active = true
        for sig in [SIGTERM, SIGHUP, SIGQUIT] {
            signal(sig) { received in
                RawTerminal.restore()
                signal(received, SIG_DFL)
                raise(received)
            }
        }
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)  // TCSANOW: keys typed ahead reach the VM
        defer { restore() }
        return try body(true)
    }

    /// Async-signal-safe: only tcsetattr.
    static func restore() {
        guard active else { return }
        active = false
        tcsetattr(STDIN_FILENO, TCSANOW, &saved)
    }
}
