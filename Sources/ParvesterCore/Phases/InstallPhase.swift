import Foundation
import SSH

/// Installs the inventory's RKE2 version where another one (or none) is installed: online, the node runs
/// the install script from its URL; airgap, the artifacts are uploaded over SFTP (only those the node
/// does not already hold) and the script runs from them.
struct InstallPhase: Phase {
    let id = "install-rke2"
    var title: String { "Install RKE2" }
    static let artifactsDirectory = "/var/lib/parvester/rke2-artifacts"
    static let artifactNames = ["install.sh", "rke2.linux-amd64.tar.gz", "rke2-images.linux-amd64.tar.zst", "sha256sum-amd64.txt"]

    func note(_ context: RunContext) -> String? { "RKE2 \(context.inventory.cluster.version), \(context.inventory.cluster.install.summary)" }

    /// Nodes already in the cluster change version in the roll (one at a time, drained), never here.
    private func nodes(_ context: RunContext) -> [Node] {
        context.healthy(context.inventory.nodes).filter { !context.state(of: $0).inCluster }
    }

    func shouldRun(_ context: RunContext) -> Bool { !nodes(context).isEmpty }

    func describe(_ context: RunContext) async throws {
        let version = context.inventory.cluster.version
        await context.forEach(nodes(context)) { node in
            await context.step(id, node) {
                let installed = context.facts(node)?.rke2Version
                if installed == version { return .unchanged }
                return .changed("would install \(version) (installed: \(installed ?? "none"))")
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let inventory = context.inventory
        let version = inventory.cluster.version
        await context.forEach(nodes(context)) { node in
            await context.step(id, node) {
                let installed = context.facts(node)?.rke2Version
                if installed == version { return .unchanged }
                try await Self.install(context, node)
                return .changed("\(installed.map { "\($0) → " } ?? "")\(version)")
            }
        }
        if context.hasFailed(inventory.initialServer) {
            throw RunAbort("RKE2 could not be installed on the initial server")
        }
    }

    /// Puts the inventory's version in place on one node (the service keeps running the old one until
    /// it restarts): online, the node runs the install script; airgap, the artifacts are uploaded first.
    static func install(_ context: RunContext, _ node: Node) async throws {
        let inventory = context.inventory
        let type = node.role == .server ? "server" : "agent"
        let environment = "INSTALL_RKE2_VERSION=\(ShellQuote.quote(inventory.cluster.version)) INSTALL_RKE2_TYPE=\(type)"
        switch inventory.cluster.install {
        case .online(let url):
            // The node downloads: the memo's `curl -sfL https://get.rke2.io | sh -`, run on the node.
            try await context.run(node, "curl -sfL \(ShellQuote.quote(url)) | \(environment) sh -",
                                  summary: "curl -sfL \(url) | \(environment) sh -", timeout: 1800)
        case .airgap(let directory):
            try await uploadArtifacts(context, node, from: directory)
            let dir = ShellQuote.quote(artifactsDirectory)
            try await context.run(node, "INSTALL_RKE2_ARTIFACT_PATH=\(dir) \(environment) sh \(dir)/install.sh", timeout: 1800)
        }
        try await context.run(node, "systemctl daemon-reload")
        context.update(node) { $0.versionChanged = true }
    }

    private static func uploadArtifacts(_ context: RunContext, _ node: Node, from directory: String) async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HostRefused("the airgap artifacts directory \(directory) does not exist (cluster.install.artifactsDir)")
        }
        let names = artifactNames.filter { FileManager.default.fileExists(atPath: directory + "/" + $0) }
        guard names.contains("install.sh"), names.contains("rke2.linux-amd64.tar.gz"), names.contains("sha256sum-amd64.txt") else {
            throw HostRefused("\(directory) lacks RKE2's airgap artifacts: it needs install.sh, rke2.linux-amd64.tar.gz and sha256sum-amd64.txt")
        }
        let remote = artifactsDirectory
        let hashes = try await context.run(node, "mkdir -p \(remote) && cd \(remote) && sha256sum \(names.joined(separator: " ")) 2>/dev/null; true",
                                           summary: "sha256 of the artifacts already on the node")
        var present: [String: String] = [:]
        for line in hashes.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2 { present[String(parts[1])] = String(parts[0]) }
        }
        let transport = try await context.transport(for: node)
        for name in names {
            let local = directory + "/" + name
            if present[name] == (try SHA256.hex(fileAt: local)) { continue }
            let size = (try? FileManager.default.attributesOfItem(atPath: local)[.size] as? Int64) ?? 0
            context.report.command(target: node.name, "upload \(name) to \(remote)")
            let report = context.report
            let target = node.name
            try await transport.writeFile(.file(local), to: "\(remote)/\(name)", mode: name == "install.sh" ? 0o755 : 0o644,
                                          become: node.ssh.become, createDirectory: true, timeout: 3600,
                                          progress: { sent, total in report.transfer(target: target, file: name, sent: sent, total: max(total, size)) })
        }
    }
}
