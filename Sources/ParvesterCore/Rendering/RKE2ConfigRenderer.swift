import YAML

/// Renders the RKE2 configuration files for a node: `config.yaml` for every node, plus the
/// `config.yaml.d/10-server.yaml` join file for servers other than the initialising one.
public struct RKE2ConfigRenderer: Sendable {
    public static let configPath = "/etc/rancher/rke2/config.yaml"
    public static let joinConfigPath = "/etc/rancher/rke2/config.yaml.d/10-server.yaml"

    let inventory: Inventory
    let store: TemplateStore

    public init(inventory: Inventory, store: TemplateStore? = nil) {
        self.inventory = inventory
        self.store = store ?? TemplateStore(for: inventory)
    }

    public func files(for node: Node, token: Secret) throws -> [RenderedFile] {
        let context = YAMLNode.mapping([
            ("cluster", TemplateContext.cluster(inventory, token: token)),
            ("node", TemplateContext.node(node)),
        ])
        func render(_ name: String, to path: String, secret: Bool) throws -> RenderedFile {
            let tree = try TemplateEngine.render(try store.template(named: name), context: context)
            // 0600: the config holds the cluster token; RKE2 only needs root to read it.
            let content = try YAMLEmitter.emit(tree)
            guard content.utf8.count <= RenderedFile.maximumSize else {
                throw YAMLError(.limit, at: .none, file: name, "renders \(path) for \(node.name) to \(content.utf8.count) bytes, more than "
                                + "the \(RenderedFile.maximumSize / 1024) KiB a node file may have; look for aliases repeating values in cluster.rke2Config")
            }
            return RenderedFile(path: path, content: content, mode: 0o600, holdsSecret: secret)
        }
        switch node.role {
        case .agent:
            return [try render("rke2-agent-config.yaml", to: Self.configPath, secret: true)]
        case .server:
            var files = [try render("rke2-server-config.yaml", to: Self.configPath, secret: true)]
            if !node.initializesCluster {
                files.append(try render("rke2-join-server.yaml", to: Self.joinConfigPath, secret: false))
            }
            return files
        }
    }
}
