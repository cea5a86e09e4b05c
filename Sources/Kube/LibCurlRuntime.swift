import CCurl
import CCurlShim
import Foundation

/// Process-wide libcurl set-up. curl_global_init is not thread-safe, so it runs once, before any handle exists.
public enum LibCurlRuntime {
    private static let initResult: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    public static func ensureInitialised() throws {
        if initResult != CURLE_OK {
            throw CurlInitialisationError(code: Int(initResult.rawValue))
        }
    }

    /// The libcurl version and TLS backend this process runs against, e.g. "7.88.1 (OpenSSL/3.0.15)".
    public static var version: String {
        guard let info = parvester_curl_version_info_now() else { return "unknown" }
        let version = info.pointee.version.map { String(cString: $0) } ?? "unknown"
        let tls = info.pointee.ssl_version.map { String(cString: $0) }
        return tls.map { "\(version) (\($0))" } ?? version
    }

    /// Whether the linked libcurl speaks TLS at all; the Kubernetes API is only reachable over HTTPS.
    public static var supportsTLS: Bool {
        guard let info = parvester_curl_version_info_now() else { return false }
        return info.pointee.features & Int32(CURL_VERSION_SSL) != 0
    }
}

public struct CurlInitialisationError: Error, CustomStringConvertible, Sendable {
    public let code: Int
    public var description: String { "libcurl failed to initialise (CURLcode \(code)); is libcurl4-openssl installed?" }
}
