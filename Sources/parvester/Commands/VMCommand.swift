import ArgumentParser
import Foundation
import Kube
import ParvesterCore

struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "KubeVirt VirtualMachines: list, start, stop, restart, delete, console, vnc (what virtctl does).",
        subcommands: [VMListCommand.self, VMActionCommand<Start>.self, VMActionCommand<Stop>.self, VMActionCommand<Restart>.self,
                      VMDeleteCommand.self, VMConsoleCommand.self, VMVNCCommand.self])
}

struct VMListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "VMs with their status, one line each.")

    @Option(name: [.short, .long], help: "Only this namespace (default: all).")
    var namespace: String?

    @OptionGroup var target: KubeTargetOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() async throws {
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        let vms = try await VirtualMachineClient(client: cluster.client).list(namespace: namespace)
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encodeList(vms))
        case .text:
            if vms.isEmpty { terminal.print("no VMs" + (namespace.map { " in namespace \($0)" } ?? "")); return }
            let names = vms.map { "\($0.namespace)/\($0.name)" }
            let width = names.map(\.count).max() ?? 0
            for (vm, name) in zip(vms, names) {
                let mark = vm.ready ? terminal.green("✓") : (vm.status == "Stopped" ? terminal.dim("○") : terminal.red("✗"))
                let addresses = vm.addresses.isEmpty ? "" : "  " + vm.addresses.joined(separator: ", ")
                terminal.print("\(mark) \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(vm.status)\(addresses)")
            }
        }
    }
}

protocol VMActionName { static var action: VirtualMachineClient.Action { get } }
enum Start: VMActionName { static let action = VirtualMachineClient.Action.start }
enum Stop: VMActionName { static let action = VirtualMachineClient.Action.stop }
enum Restart: VMActionName { static let action = VirtualMachineClient.Action.restart }

/// `vm start|stop|restart NAME`, through KubeVirt's subresource API, then waited for.
struct VMActionCommand<Name: VMActionName>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        let what = ["start": "Start a VM and wait until it runs.", "stop": "Stop a VM and wait until its instance is gone.",
                    "restart": "Restart a VM (a new instance) and wait until it runs."]
        return CommandConfiguration(commandName: Name.action.rawValue, abstract: what[Name.action.rawValue] ?? "")
    }

    @Argument(help: "The VM's name.")
    var name: String

    @Option(name: [.short, .long], help: "The namespace.")
    var namespace: String = defaultNamespace

    @Option(name: .long, help: "How long to wait (1s to 24h, e.g. 90s, 5m).", transform: DurationFlag.positive)
    var waitTimeout: DurationValue = .seconds(300)

    @OptionGroup var target: KubeTargetOptions

    func run() async throws {
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        let started = Date()
        try await VirtualMachineClient(client: cluster.client).perform(Name.action, namespace: namespace, name: name, timeout: waitTimeout.seconds)
        let done = ["start": "is running", "stop": "is stopped", "restart": "restarted and is running"][Name.action.rawValue] ?? ""
        terminal.print(terminal.green("✓ ") + "VM \(namespace)/\(name) \(done)" + String(format: " (%.1fs)", Date().timeIntervalSince(started)))
    }
}

struct VMDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a VM; with --with-disks, also the disks (DataVolumes) no other VM uses.",
        discussion: """
            A VM still listed in the inventory comes back at the next `up`: remove it there too. Asks for             confirmation on a terminal; without one, needs --yes.
            """)

    @Argument(help: "The VM's name.")
    var name: String

    @Option(name: [.short, .long], help: "The namespace.")
    var namespace: String = defaultNamespace

    @Flag(name: .long, help: "Also delete the VM's disks (its DataVolumes and PVCs) and its cloud-init Secret made by Parvester, once the VM is gone.")
    var withDisks = false

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false

    @Option(name: .long, help: "How long to wait for the VM to go (1s to 24h).", transform: DurationFlag.positive)
    var waitTimeout: DurationValue = .seconds(300)

    @OptionGroup var target: KubeTargetOptions

    func run() async throws {
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        let users = try await DiskUsers.read(cluster.client)
        guard let machine = users.machine(namespace, name) else {
            terminal.print("VM \(namespace)/\(name) does not exist: nothing to delete")
            return
        }
        let disks = withDisks ? machine.disks.filter { users.users(ofDisk: $0, namespace: namespace, except: ["\(namespace)/\(name)"]).isEmpty } : []
        let shared = withDisks ? machine.disks.filter { !disks.contains($0) } : []
        let what = disks.isEmpty ? "" : " and its disks \(disks.joined(separator: ", "))"
        try Confirmation.require("Delete VM \(namespace)/\(name)\(what)?", yes: yes, terminal: terminal)
        let machines = VirtualMachineClient(client: cluster.client)
        try await machines.delete(namespace: namespace, name: name)
        try await machines.waitGone(namespace: namespace, name: name, timeout: waitTimeout.seconds)
        for disk in disks {
            let response = try await cluster.client.send("DELETE", "/apis/cdi.kubevirt.io/v1beta1/namespaces/\(namespace)/datavolumes/\(disk)")
            if response.status == 404 {  // a plain PVC, not a DataVolume
                _ = try await cluster.client.send("DELETE", "/api/v1/namespaces/\(namespace)/persistentvolumeclaims/\(disk)")
            }
        }
        if withDisks {
            for secret in machine.secrets {
                let path = "/api/v1/namespaces/\(namespace)/secrets/\(secret)"
                let labels = (try await cluster.client.send("GET", path)).json.flatMap { ($0["metadata"] as? [String: Any])?["labels"] as? [String: String] }
                if labels?["app.kubernetes.io/managed-by"] == "parvester" { _ = try await cluster.client.send("DELETE", path) }
            }
        }
        for disk in shared { terminal.warning("disk \(namespace)/\(disk) is kept: another VM uses it") }
        if cluster.inventory?.vms.contains(where: { $0.name == name && $0.namespace == namespace }) == true {
            terminal.warning("VM \(namespace)/\(name) is in \(target.inventory ?? "the inventory"): the next `up` creates it again")
        }
        terminal.print(terminal.green("✓ ") + "VM \(namespace)/\(name) deleted")
    }
}
