import ArgumentParser
import ParvesterCore
import YAML

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print the files and objects Parvester would write, with the token and VM passwords redacted.",
        discussion: "Useful to check templates of your own (the inventory's `templates:` directory) before a run.")

    @OptionGroup var inventoryOptions: InventoryOptions

    @Option(name: .long, help: "Only this node's files.")
    var node: String?

    @Flag(name: .long, help: "Print the cluster objects (networks, images, VMs) instead of node files.")
    var objects = false

    func run() throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: .text)
        do {
            if objects {
                terminal.print(try YAMLEmitter.emit(documents: ClusterObjectRenderer(inventory: inventory).allObjects(redactingPasswords: true)), terminator: "")
                return
            }
            let nodes = inventory.nodes.filter { node == nil || $0.name == node }
            if let node, nodes.isEmpty {
                throw ValidationError("no node named \(node.quoted) in \(inventory.file); nodes: \(inventory.nodes.map(\.name).joined(separator: ", "))")
            }
            let rke2 = RKE2ConfigRenderer(inventory: inventory)
            let bridge = BridgeUnitRenderer(inventory: inventory)
            for node in nodes {
                for file in try rke2.files(for: node, token: Secret("<token: redacted>")) + [bridge.file(for: node)] {
                    terminal.print(terminal.bold("# \(node.name): \(file.path) (mode \(String(file.mode, radix: 8)))"))
                    terminal.print(file.content)
                }
            }
        } catch let error as YAMLError {
            terminal.error(error.description)
            throw ExitCodes.failure
        }
    }
}
