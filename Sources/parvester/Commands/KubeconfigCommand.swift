import ArgumentParser
import Foundation
import SSH
import Kube
import ParvesterCore

struct KubeconfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Where the cluster's kubeconfig is; print it, or merge it into ~/.kube/config.",
        discussion: """
            The kubeconfig is the one `up` fetched into the state directory (server: https://ADDRESS:6443, \
            mode 0600). By default its path is printed, so that `export KUBECONFIG=$(parvester kubeconfig -i FILE)` \
            works. --raw prints the whole file, client key included, for `> FILE`: it refuses a terminal, where \
            the key would land in the scrollback. --redacted prints it with the key hidden, to look at. --merge \
            adds it to ~/.kube/config (or the first file of $KUBECONFIG) under a cluster, user and context named \
            after the cluster, replacing entries of that name; the file is written atomically with mode 0600.
            """)

    @OptionGroup var inventoryOptions: InventoryOptions

    @Option(name: .long, help: "The state directory `up` used.")
    var stateDir: String?

    @Flag(name: .long, help: "Print the whole kubeconfig, client key included (for `> FILE`; refused on a terminal).")
    var raw = false

    @Flag(name: .long, help: "Print the kubeconfig with its client key hidden.")
    var redacted = false

    @Flag(name: .long, help: "Merge into ~/.kube/config (or the first file of $KUBECONFIG) instead of printing.")
    var merge = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: .text)
        let state = stateDir.map { StateDirectory(path: $0) } ?? StateDirectory.default(cluster: inventory.cluster.name)
        guard let data = state.read(state.kubeconfigPath) else {
            terminal.error("no kubeconfig in \(state.path): run `parvester up -i \(inventory.file)` first (it fetches it)")
            throw ExitCodes.failure
        }
        let kubeconfig = try Kubeconfig(text: String(decoding: data, as: UTF8.self), source: state.kubeconfigPath)
            .renamed(to: inventory.cluster.name)
        if [raw, redacted, merge].filter({ $0 }).count > 1 { throw ValidationError("give one of --raw, --redacted and --merge") }
        if raw {
            guard !terminal.stdoutIsTerminal else {
                terminal.error("refusing to print the cluster-admin key to a terminal; redirect it (`parvester kubeconfig -i \(inventory.file) --raw > FILE`), "
                               + "or use --redacted to look at it")
                throw ExitCodes.usage
            }
            terminal.print(try kubeconfig.text(), terminator: "")
            return
        }
        if redacted {
            terminal.print(try kubeconfig.redacted().text(), terminator: "")
            return
        }
        guard merge else {
            terminal.print(state.kubeconfigPath)
            if terminal.stdoutIsTerminal {
                terminal.hint("use it with: export KUBECONFIG=\(state.kubeconfigPath)   (or --merge into ~/.kube/config)")
            }
            return
        }
        let target = Self.userKubeconfigPath()
        let existing = FileManager.default.contents(atPath: target).map { String(decoding: $0, as: UTF8.self) }
        let base = try existing.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : try Kubeconfig(text: $0, source: target) }
        let merged = base?.merging(kubeconfig) ?? kubeconfig
        let directory = (target as NSString).deletingLastPathComponent
        try StateDirectory(path: directory).write(Data(try merged.text().utf8), to: target)
        terminal.print("merged cluster \(inventory.cluster.name) into \(target) (context \(inventory.cluster.name))")
    }

    static func userKubeconfigPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let paths = environment["KUBECONFIG"], let first = paths.split(separator: ":").first, !first.isEmpty { return String(first) }
        return UserHome.path + "/.kube/config"
    }
}
