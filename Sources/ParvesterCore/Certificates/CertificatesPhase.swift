import Foundation

/// Reads the end dates of RKE2's certificates on each server (`certs check`, `status`). Only the public
/// certificates travel; RKE2 renews them itself at start when under 120 days remain.
struct CertificatesPhase: ReadOnlyPhase {
    let id = "certificates"
    let title = "Read the servers' certificate dates"
    static let directories = ["/var/lib/rancher/rke2/server/tls", "/var/lib/rancher/rke2/server/tls/etcd"]

    func targets(_ context: RunContext) -> [String] { context.inventory.servers.map(\.name) }

    func run(_ context: RunContext) async throws {
        let globs = Self.directories.map { "\($0)/*.crt" }.joined(separator: " ")
        await context.forEach(context.healthy(context.inventory.servers)) { node in
            await context.step(id, node) {
                let output = try await context.run(node, "for f in \(globs); do [ -f \"$f\" ] && { echo \"#file $f\"; cat \"$f\"; }; done; true",
                                                   summary: "read RKE2's certificates in \(Self.directories[0])")
                let found = Self.parse(output.stdoutText, node: node.name)
                context.updateCluster { $0.certificates += found }
                guard let soonest = found.min(by: { $0.notAfter < $1.notAfter }) else { return .ok("no certificates (RKE2 has not started here)") }
                return .ok("\(found.count) certificates; the first to expire: \(soonest.file) in \(soonest.daysLeft()) days")
            }
        }
    }

    static func parse(_ text: String, node: String) -> [CertificateExpiry] {
        var result: [CertificateExpiry] = []
        var file: String?
        var pem = ""
        func flush() {
            if let file { result += CertificateExpiry.notAfterDates(pem: pem).map { CertificateExpiry(node: node, file: file, notAfter: $0) } }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#file ") {
                flush()
                file = String(line.dropFirst(6))
                pem = ""
            } else {
                pem += line + "\n"
            }
        }
        flush()
        return result
    }
}
