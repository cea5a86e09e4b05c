/// Renders the systemd unit that re-creates a node's VM bridge (and enslaves its uplink) at boot.
public struct BridgeUnitRenderer: Sendable {
    let inventory: Inventory
    let store: TemplateStore

    public init(inventory: Inventory, store: TemplateStore? = nil) {
        self.inventory = inventory
        self.store = store ?? TemplateStore(for: inventory)
    }

    public var unitName: String { "parvester-bridge-\(inventory.bridge.name).service" }

    public func file(for node: Node) throws -> RenderedFile {
        let template = try store.template(named: "bridge.service.yaml")
        let tree = try TemplateEngine.render(template, context: .mapping([("bridge", TemplateContext.bridge(inventory.bridge, node: node))]))
        return RenderedFile(path: "/etc/systemd/system/\(unitName)",
                            content: try SystemdUnitRenderer.render(tree, source: template.source),
                            mode: 0o644, holdsSecret: false)
    }
}
