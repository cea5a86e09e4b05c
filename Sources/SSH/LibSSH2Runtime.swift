import CLibSSH2
import Foundation

/// Process-wide libssh2 set-up. libssh2_init is not thread-safe, so it runs once, before any session exists.
public enum LibSSH2Runtime {
    private static let initResult: Int32 = libssh2_init(0)

    /// Initialises libssh2 once; throws if the library refused (it cannot start its crypto backend).
    public static func ensureInitialised() throws {
        if initResult != 0 {
            throw LibraryInitialisationError(library: "libssh2", code: Int(initResult))
        }
    }

    /// The version of the libssh2 this process runs against (not the one it was built with).
    public static var version: String {
        guard let raw = libssh2_version(0) else { return "unknown" }
        return String(cString: raw)
    }
}

public struct LibraryInitialisationError: Error, CustomStringConvertible, Sendable {
    public let library: String
    public let code: Int
    public var description: String { "\(library) failed to initialise (code \(code)); is the library installed correctly?" }
}
