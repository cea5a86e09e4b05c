import Foundation
import Kube

/// Writes the cluster's kubeconfig locally (0600, in the state directory), pointed at the cluster
/// address, and checks that a TLS request through it succeeds.
struct FetchKubeconfigPhase: Phase {
    let id = "fetch-kubeconfig"
    let title = "Fetch the kubeconfig"
    func targets(_ context: RunContext) -> [String] { [context.inventory.initialServer.name] }
    func note(_ context: RunContext) -> String? { "server https://\(context.inventory.cluster.address):6443" }

    func describe(_ context: RunContext) async throws {
        await context.step(id, context.inventory.initialServer) {
            let path = context.options.stateDirectory.kubeconfigPath
            return FileManager.default.fileExists(atPath: path) ? .unchanged : .changed("would write \(path)")
        }
    }

    func run(_ context: RunContext) async throws {
        let node = context.inventory.initialServer
        await context.step(id, node) {
            guard let kubeconfig = context.kubeconfig else { throw RunAbort("no kubeconfig: the initial server did not start") }
            let state = context.options.stateDirectory
            let text = try kubeconfig.text()
            let unchanged = state.read(state.kubeconfigPath) == Data(text.utf8)
            // The same bytes as the run's own credentials, which the API answers through (start-initial-server's
            // /readyz after a start, wait-nodes-ready in any case).
            if !unchanged { try state.write(Data(text.utf8), to: state.kubeconfigPath) }
            // Only once the kubeconfig it describes is in place: see KubeconfigSource.sourceHashPath.
            if let hash = context.kubeconfigSourceHash { try? state.write(Data(hash.utf8), to: KubeconfigSource.sourceHashPath(state)) }
            if unchanged { return .unchanged }
            // Read back what was written: the file itself must work.
            let written = try Kubeconfig(text: String(decoding: state.read(state.kubeconfigPath) ?? Data(), as: UTF8.self), source: state.kubeconfigPath)
            let response = try await KubeHTTPClient(credentials: try written.credentials()).request("GET", "/version")
            guard response.status == 200 else {
                throw KubeError(.api, "GET /version through \(state.kubeconfigPath) answered \(response.status)", status: response.status)
            }
            return .changed(state.kubeconfigPath)
        }
    }
}
