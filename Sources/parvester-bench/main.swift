// Benchmark driver for `make bench` (not shipped): exercises Parvester's own SSH code paths so that
// Tests/Bench/ssh_bench.py can time them against OpenSSH on the same lab, in one run.
//   parvester-bench exec INVENTORY COMMAND      connect to every node in parallel, run COMMAND once each
//   parvester-bench upload INVENTORY NODE FILE REMOTE   SFTP upload of FILE to one node
import Foundation
import Kube
import ParvesterCore
import SSH

@main
struct Bench {
    static func main() async throws {
        let arguments = CommandLine.arguments
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
}
