import Foundation

/// Before any node is touched: the files and secrets of this machine that later phases read (image
/// files to upload, VM passwords from files or the environment) are all there, so a typo stops the
/// run at once instead of after the cluster was built.
struct LocalInputsPhase: ReadOnlyPhase {
    let id = "local-inputs"
    let title = "Check the local files and secrets the run reads"
    /// Only the SSH keys (`reset` reads no image or password).
    var keysOnly = false

    func targets(_ context: RunContext) -> [String] { ["this machine"] }

    func run(_ context: RunContext) async throws {
        let inventory = context.inventory
        var problems: [String] = []
        var keys: [String: String] = [:]  // path → the first node needing it
        for node in inventory.nodes {
            for key in [node.ssh.identityFile, node.ssh.bastion?.identityFile].compactMap({ $0 }) where keys[key] == nil {
                keys[key] = node.name
            }
        }
        for (key, node) in keys.sorted(by: { $0.key < $1.key }) where !FileManager.default.isReadableFile(atPath: key) {
            problems.append("node \(node): cannot read the SSH key \(key) (ssh.identityFile)")
        }
        for image in inventory.images where !keysOnly {
            if case .file(let path) = image.source, !FileManager.default.isReadableFile(atPath: path) {
                problems.append("image \(image.namespace)/\(image.name): cannot read \(path) (images[].source.file)")
            }
        }
        for vm in inventory.vms where !keysOnly {
            guard let source = vm.cloudInit.password else { continue }
            do {
                _ = try ClusterObjectRenderer.password(source, vm: vm, environment: ProcessInfo.processInfo.environment)
            } catch {
                problems.append("\(error)")
            }
        }
        guard problems.isEmpty else {
            throw RunAbort(problems.joined(separator: "; ") + "; nothing was changed")
        }
    }
}
