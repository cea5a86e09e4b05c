// Benchmark driver for `make bench` (not shipped): exercises Parvester's own SSH code paths so that
// Tests/Bench/ssh_bench.py can time them against OpenSSH on the same lab, in one run.
//   parvester-bench exec INVENTORY COMMAND      connect to every node in parallel, run COMMAND once each
//   parvester-bench upload INVENTORY NODE FILE REMOTE   SFTP upload of FILE to one node
//   parvester-bench apply KUBECONFIG WIDTH MANIFEST     server-side apply of every object, WIDTH at once
//   parvester-bench cdi-upload KUBECONFIG NAME FILE      upload FILE into the new upload DataVolume NAME;
//                                                        prints the seconds of the transfer alone
import Foundation
import Kube
import ParvesterCore
import SSH

@main
struct Bench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        if arguments.count == 6, arguments[1] == "cdi-upload" {
            return try await cdiUpload(kubeconfig: arguments[2], name: arguments[3], file: arguments[4], proxyURL: arguments[5])
        }
        if arguments.count == 5, arguments[1] == "apply" { return try await apply(kubeconfig: arguments[2], width: Int(arguments[3]) ?? 1, manifest: arguments[4]) }
        guard arguments.count >= 4 else {
            FileHandle.standardError.write(Data("usage: parvester-bench exec INVENTORY COMMAND | upload INVENTORY NODE FILE REMOTE\n".utf8))
            exit(64)
        }
        let inventory = try InventoryLoader.load(path: arguments[2])
        let pool = ConnectionPool(settings: ConnectionSettings(sshConfig: nil))
        let started = Date()
        switch arguments[1] {
        case "exec":
            let command = arguments[3]
            let failures = await ParallelRunner.map(inventory.nodes, width: inventory.concurrency) { node -> String? in
                do {
                    let result = try await pool.connection(for: node).run(command)
                    return result.succeeded ? nil : "\(node.name): exit \(result.exitStatus)"
                } catch {
                    return "\(error)"
                }
            }.compactMap { $0 }
            await pool.closeAll()
            guard failures.isEmpty else {
                FileHandle.standardError.write(Data((failures.joined(separator: "\n") + "\n").utf8))
                exit(1)
            }
        case "upload" where arguments.count == 6:
            guard let node = inventory.nodes.first(where: { $0.name == arguments[3] }) else { exit(64) }
            try await pool.connection(for: node).upload(.file(arguments[4]), to: arguments[5], mode: 0o600)
            await pool.closeAll()
        default:
            exit(64)
        }
        print(String(format: "%.3f", Date().timeIntervalSince(started)))
    }

    /// Creates an upload DataVolume, gets it ready and a token (untimed), then times the transfer itself
    /// to the proxy at `proxyURL` (the one the plain PUT it is compared with goes to).
    static func cdiUpload(kubeconfig: String, name: String, file: String, proxyURL: String) async throws {
        let config = try Kubeconfig(text: try String(contentsOfFile: kubeconfig, encoding: .utf8), source: kubeconfig)
        let client = try KubeHTTPClient(credentials: try config.credentials())
        let image = Image(name: name, namespace: "default", size: "1Gi", storageClass: "local-path", accessMode: .readWriteOnce, source: .file(file))
        let results = await KubeApplier(client: client, discovery: KubeDiscovery(client: client))
            .apply(try KubeObject.from(try ClusterObjectRenderer.dataVolumeAlone(image), source: name))
        guard !results.contains(where: { $0.outcome == .failed }) else { exit(1) }
        let uploader = DataVolumeUploader(client: client, proxyURL: proxyURL, timeout: 60)
        let (upload, token) = try await uploader.prepare(namespace: "default", name: name)
        let started = Date()
        try await upload.upload(file: file, token: token)
        print(String(format: "%.3f", Date().timeIntervalSince(started)))
    }

    /// Applies a manifest with Parvester's applier (stages, CRDs waited for) at a given width; prints seconds.
    static func apply(kubeconfig: String, width: Int, manifest: String) async throws {
        let config = try Kubeconfig(text: try String(contentsOfFile: kubeconfig, encoding: .utf8), source: kubeconfig)
        let client = try KubeHTTPClient(credentials: try config.credentials())
        let objects = try KubeObject.parse(try String(contentsOfFile: manifest, encoding: .utf8), source: manifest)
        var applier = KubeApplier(client: client, discovery: KubeDiscovery(client: client))
        applier.width = width
        let started = Date()
        let failed = await applier.apply(objects).filter { $0.outcome == .failed }
        guard failed.isEmpty else {
            FileHandle.standardError.write(Data("\(failed.count) failed, first: \(failed[0].object): \(failed[0].error ?? "")\n".utf8))
            exit(1)
        }
        print(String(format: "%.3f", Date().timeIntervalSince(started)))
    }
}
