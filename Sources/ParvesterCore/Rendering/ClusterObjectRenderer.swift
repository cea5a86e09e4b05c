import Foundation
import YAML

/// Renders the Kubernetes objects for the inventory's VM networks, images and VMs.
public struct ClusterObjectRenderer: Sendable {
    let inventory: Inventory
    let store: TemplateStore

    public init(inventory: Inventory, store: TemplateStore? = nil) {
        self.inventory = inventory
        self.store = store ?? TemplateStore(for: inventory)
    }

    public func networkAttachmentDefinition(_ network: Network) throws -> YAMLNode {
        try TemplateEngine.render(store.template(named: "network-attachment-definition.yaml"),
                                  context: .mapping([("network", TemplateContext.network(network))]))
    }

    public func dataVolume(_ image: Image) throws -> YAMLNode {
        try TemplateEngine.render(store.template(named: "datavolume.yaml"),
                                  context: .mapping([("image", TemplateContext.image(image))]))
    }

    public func virtualMachine(_ vm: VM) throws -> YAMLNode {
        let template = try vm.template.map { try store.template(atPath: $0) } ?? store.template(named: "virtualmachine.yaml")
        let context = TemplateContext.vm(vm, userData: try text(of: vm.cloudInit.userData),
                                         networkData: try text(of: vm.cloudInit.networkData))
        return try TemplateEngine.render(template, context: .mapping([("vm", context)]))
    }

    /// Every object `up` applies after the components, in order: networks, images, VMs.
    public func allObjects() throws -> [YAMLNode] {
        try inventory.networks.map(networkAttachmentDefinition) + inventory.images.map(dataVolume) + inventory.vms.map(virtualMachine)
    }

    private func text(of content: CloudInit.Content?) throws -> String? {
        switch content {
        case .inline(let text)?: return text
        case .file(let path)?:
            guard let data = FileManager.default.contents(atPath: path) else {
                throw YAMLError(.invalidValue, at: .none, file: path, "cannot read this cloud-init file")
            }
            return String(decoding: data, as: UTF8.self)
        case nil: return nil
        }
    }
}
