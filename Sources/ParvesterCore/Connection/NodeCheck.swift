import Foundation
import SSH

/// What `parvester check` finds out about one node.
public struct NodeCheckResult: Sendable, Encodable {
    public var node: String
    public var address: String
    public var reachable: Bool
    public var os: String?
    public var kernel: String?
    public var arch: String?
    /// "root", "passwordless", "with password", "not used", or why it failed.
    public var sudo: String?
    public var sudoWorks: Bool
    /// Time for one `true` exec on the open session, in milliseconds.
    public var roundTripMilliseconds: Int?
    public var error: String?

    public var ok: Bool { reachable && sudoWorks && error == nil }
}

public enum NodeChecker {
    /// One exec for the facts: OS name, kernel, architecture.
    static let probe = #". /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}"; uname -r; uname -m"#

    public static func check(_ node: Node, pool: ConnectionPool) async -> NodeCheckResult {
        var result = NodeCheckResult(node: node.name, address: node.address, reachable: false, sudoWorks: false)
        do {
            let connection = try await pool.connection(for: node)
            result.reachable = true
            let facts = try await connection.run(probe, timeout: 30)
            let lines = facts.stdoutText.split(separator: "\n").map(String.init)
            if lines.count >= 3 { (result.os, result.kernel, result.arch) = (lines[0], lines[1], lines[2]) }

            let started = Date()
            _ = try await connection.run("true", timeout: 30)
            result.roundTripMilliseconds = Int(Date().timeIntervalSince(started) * 1000)

            if connection.user == "root" {
                (result.sudo, result.sudoWorks) = ("not needed (root)", true)
            } else if !node.ssh.become {
                (result.sudo, result.sudoWorks) = ("not used (become: false)", true)
            } else {
                let sudo = try await connection.run("id -u", become: true, timeout: 30)
                result.sudoWorks = sudo.stdoutText == "0\n"
                result.sudo = result.sudoWorks ? "works" : "failed: \(sudo.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))"
            }
        } catch let error as SSHError {
            result.error = error.message
            if error.kind == .become { result.sudo = "failed" }
        } catch {
            result.error = "\(error)"
        }
        return result
    }
}
