import ArgumentParser
import Foundation
import Kube
import ParvesterCore

/// `parvester image list`: DataVolumes, their phase and size, and which VMs use them.
struct ImageListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List images (DataVolumes): phase, size, the VMs using each.")

    @Option(name: [.short, .long], help: "Only this namespace (default: all).")
    var namespace: String?

    @OptionGroup var target: KubeTargetOptions
    @OptionGroup var outputOptions: OutputOptions

    struct Row: Encodable {
        var namespace: String
        var name: String
        var phase: String
        var size: String
        var parvester: Bool
        var usedBy: [String]
    }

    func run() async throws {
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        let path = namespace.map { "/apis/cdi.kubevirt.io/v1beta1/namespaces/\($0)/datavolumes" } ?? "/apis/cdi.kubevirt.io/v1beta1/datavolumes"
        let response = try await cluster.client.send("GET", path)
        guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
            throw KubeError.status(response, doing: "listing DataVolumes")
        }
        let users = try await DiskUsers.read(cluster.client)
        let rows = items.compactMap { item -> Row? in
            let meta = item["metadata"] as? [String: Any] ?? [:]
            guard let ns = meta["namespace"] as? String, let name = meta["name"] as? String else { return nil }
            let spec = item["spec"] as? [String: Any] ?? [:]
            let storage = (spec["storage"] ?? spec["pvc"]) as? [String: Any] ?? [:]
            let size = ((storage["resources"] as? [String: Any])?["requests"] as? [String: Any])?["storage"] as? String ?? ""
            let labels = meta["labels"] as? [String: String] ?? [:]
            return Row(namespace: ns, name: name, phase: (item["status"] as? [String: Any])?["phase"] as? String ?? "",
                       size: size, parvester: labels[Ownership.clusterLabel] != nil, usedBy: users.users(ofDisk: name, namespace: ns))
        }.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        switch outputOptions.output {
        case .json: terminal.print(try JSONOutput.encode(rows))
        case .text:
            terminal.print(terminal.bold("NAMESPACE/NAME".padding(toLength: 32, withPad: " ", startingAt: 0) + "PHASE".padding(toLength: 14, withPad: " ", startingAt: 0)
                                         + "SIZE".padding(toLength: 8, withPad: " ", startingAt: 0) + "USED BY"))
            for row in rows {
                terminal.print("\(row.namespace)/\(row.name)".padding(toLength: 32, withPad: " ", startingAt: 0) + row.phase.padding(toLength: 14, withPad: " ", startingAt: 0)
                               + row.size.padding(toLength: 8, withPad: " ", startingAt: 0) + (row.usedBy.isEmpty ? "-" : row.usedBy.joined(separator: ", ")))
            }
        }
    }
}

/// `parvester image delete NAME`: the DataVolume and its PVC, refused while a VM uses it.
struct ImageDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete an image (a DataVolume and its disk); refused while a VM uses it.",
        discussion: "Asks for confirmation on a terminal; without one, needs --yes. An image still in the inventory comes back at the next `up`.")

    @Argument(help: "The DataVolume's name.")
    var name: String

    @Option(name: [.short, .long], help: "The namespace.")
    var namespace: String = defaultNamespace

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false

    @OptionGroup var target: KubeTargetOptions

    func run() async throws {
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        let path = "/apis/cdi.kubevirt.io/v1beta1/namespaces/\(namespace)/datavolumes/\(name)"
        let existing = try await cluster.client.send("GET", path)
        if existing.status == 404 {
            terminal.print("DataVolume \(namespace)/\(name) does not exist: nothing to delete")
            return
        }
        let users = try await DiskUsers.read(cluster.client).users(ofDisk: name, namespace: namespace)
        guard users.isEmpty else {
            terminal.error("image \(namespace)/\(name) is used by \(users.joined(separator: ", ")): delete \(users.count == 1 ? "that VM" : "those VMs") first (`parvester vm delete NAME --with-disks` takes the VM and its disks)")
            throw ExitCodes.failure
        }
        try Confirmation.require("Delete image \(namespace)/\(name) and its data?", yes: yes, terminal: terminal)
        let response = try await cluster.client.send("DELETE", path)
        guard (200..<300).contains(response.status) || response.status == 404 else { throw KubeError.status(response, doing: "deleting DataVolume \(namespace)/\(name)") }
        if cluster.inventory?.images.contains(where: { $0.name == name && $0.namespace == namespace }) == true {
            terminal.warning("image \(namespace)/\(name) is in \(target.inventory ?? "the inventory"): the next `up` creates it again")
        }
        terminal.print(terminal.green("✓ ") + "image \(namespace)/\(name) deleted")
    }
}
