import ArgumentParser
import Foundation
import Kube
import ParvesterCore
import SSH

/// Which cluster `apply` and `status` talk to: the one an inventory describes (the kubeconfig `up`
/// fetched), or any cluster through a kubeconfig, as kubectl finds it.
struct KubeTargetOptions: ParsableArguments {
    @Option(name: [.customShort("i"), .customLong("inventory")], help: "Use the kubeconfig `up` fetched for this inventory's cluster.",
            completion: .file(extensions: ["yaml", "yml"]))
    var inventory: String?

    @Option(name: .long, help: "A kubeconfig file (else $KUBECONFIG, else ~/.kube/config).", completion: .file())
    var kubeconfig: String?

    @Option(name: .long, help: "With -i: the state directory `up` used.")
    var stateDir: String?

    @Flag(name: .long, help: "Accept a kubeconfig that sets insecure-skip-tls-verify.")
    var insecureSkipTLSVerify = false

    struct Target {
        var client: KubeHTTPClient
        var discovery: KubeDiscovery
        var inventory: Inventory?
    }

    func connect(terminal: Terminal) throws -> Target {
        var loaded: Inventory?
        let config: Kubeconfig
        if let inventory {
            let resolved = try InventoryOptions(inventory: inventory).load(terminal: terminal, format: .text)
            loaded = resolved
            let state = stateDir.map { StateDirectory(path: $0) } ?? StateDirectory.default(cluster: resolved.cluster.name)
            guard let data = state.read(state.kubeconfigPath) else {
                throw KubeError(.kubeconfig, "no kubeconfig in \(state.path): run `parvester up -i \(inventory)` first")
            }
            config = try Kubeconfig(text: String(decoding: data, as: UTF8.self), source: state.kubeconfigPath)
        } else {
            config = try Kubeconfig.load(explicit: kubeconfig, home: UserHome.path)
        }
        let client = try KubeHTTPClient(credentials: try config.credentials(allowInsecure: insecureSkipTLSVerify))
        return Target(client: client, discovery: KubeDiscovery(client: client), inventory: loaded)
    }
}

extension InventoryOptions {
    init(inventory: String) {
        self.init()
        self.inventory = inventory
    }
}
