import Foundation
import Kube
import SSH

/// Starts the server that creates the cluster (or restarts it when its configuration changed), then
/// waits for its node-token and for the API, reached through the cluster address with the kubeconfig RKE2
/// wrote: TLS must verify, so a cluster address missing from tls-san fails here.
struct StartInitialServerPhase: Phase {
    let id = "start-initial-server"
    let title = "Start the initial server and wait for its token and API"
    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }

    /// Besides the service, a plan reads the kubeconfig of a running cluster, so that the cluster phases
    /// can compare the inventory's objects with the live ones.
    func describe(_ context: RunContext) async throws {
        let node = context.inventory.initialServer
        await context.step(id, node) {
            let done = DryRun.service(context, node, unit: "rke2-server")
            if context.facts(node)?.isActive("rke2-server") == true, context.facts(node)?.fileHashes[KubeconfigSource.path] != nil {
                try context.setKubeconfig(try await KubeconfigSource.fetch(context, from: node, serverUntouched: true))
            }
            return done
        }
    }

    func run(_ context: RunContext) async throws {
        let node = context.inventory.initialServer
        await context.step(id, node) {
            let done = try await ServiceStarter.ensureRunning(context, node, unit: "rke2-server", restart: context.needsRestart(node))
            // A server left running as it was still has the token the facts saw.
            let untouched = if case .unchanged = done { context.facts(node)?.hasNodeToken == true } else { false }
            if !untouched {
                try await Waiter.until("the node-token on \(node.name)", timeout: context.options.waitTimeout) {
                    let result = try await context.run(node, "test -s \(TokenResolver.nodeTokenPath)", allowFailure: true)
                    return (result.succeeded, "no \(TokenResolver.nodeTokenPath) yet")
                }
            }
            try context.setKubeconfig(try await KubeconfigSource.fetch(context, from: node, serverUntouched: untouched))
            guard let kube = context.kube else { throw RunAbort("no API client") }
            // A server left running as it was: wait-nodes-ready asks the API next, with the same wait.
            if untouched { return done }
            try await Waiter.until("the Kubernetes API at \(kube.credentials.server)", timeout: context.options.waitTimeout) {
                let response = try await kube.request("GET", "/readyz", accept: "text/plain")
                return (response.status == 200, "HTTP \(response.status)")
            }
            return done
        }
        if context.hasFailed(node) {
            throw RunAbort("the initial server \(node.name) did not come up; no other node can join")
        }
    }
}

/// The kubeconfig RKE2 writes on a server, pointed at the cluster address.
enum KubeconfigSource {
    static let path = "/etc/rancher/rke2/rke2.yaml"

    /// Beside the local kubeconfig: the sha256 of the rke2.yaml it was made from. When the facts show
    /// the same hash on a server left untouched, the local copy is used and nothing is downloaded.
    static func sourceHashPath(_ state: StateDirectory) -> String { state.kubeconfigPath + ".source-sha256" }

    static func fetch(_ context: RunContext, from node: Node, serverUntouched: Bool = false) async throws -> Kubeconfig {
        let state = context.options.stateDirectory
        let address = context.inventory.cluster.address
        let host = NetworkNames.isIPv6(address) ? "[\(address)]" : address
        if serverUntouched, let remote = context.facts(node)?.fileHashes[path],
           let recorded = state.read(sourceHashPath(state)), String(decoding: recorded, as: UTF8.self) == remote,
           let local = state.read(state.kubeconfigPath),
           let kubeconfig = try? Kubeconfig(text: String(decoding: local, as: UTF8.self), source: state.kubeconfigPath),
           (try? kubeconfig.credentials().server) == "https://\(host):6443" {
            return kubeconfig
        }
        let data = try await context.read(path, from: node, timeout: 600)
        // Recorded by fetch-kubeconfig once the local kubeconfig is written, never before: a run killed in
        // between must not pair this hash with an older cluster's kubeconfig.
        context.kubeconfigSourceHash = SHA256.hex(data)
        return try Kubeconfig(text: String(decoding: data, as: UTF8.self), source: "\(node.name):\(path)").withServer("https://\(host):6443")
    }
}

/// What `plan` says about a service it will not touch.
enum DryRun {
    static func service(_ context: RunContext, _ node: Node, unit: String) -> RunContext.Done {
        let active = context.facts(node)?.isActive(unit) ?? false
        if active && !context.needsRestart(node) { return .unchanged }
        return .changed(active ? "would restart \(unit) (configuration changed)" : "would start \(unit)")
    }
}
