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

    /// The NodePort Service that exposes CDI's upload proxy when nothing else does.
    public func uploadProxyService() throws -> YAMLNode {
        try TemplateEngine.render(store.template(named: "cdi-uploadproxy-nodeport.yaml"),
                                  context: .mapping([("cdi", .mapping([("uploadProxyNodePort", .int(inventory.uploadProxyNodePort))]))]))
    }

    /// A DataVolume from the built-in template, for an image that is in no inventory (`image upload`).
    public static func dataVolumeAlone(_ image: Image) throws -> YAMLNode {
        try TemplateEngine.render(TemplateStore().template(named: "datavolume.yaml"), context: .mapping([("image", TemplateContext.image(image))]))
    }

    public func dataVolume(_ image: Image) throws -> YAMLNode {
        try TemplateEngine.render(store.template(named: "datavolume.yaml"),
                                  context: .mapping([("image", TemplateContext.image(image))]))
    }

    /// The VirtualMachine, preceded by the Secret holding its cloud-init user data when that carries a
    /// password (so the password is in no VM object, nor in what `render` or `plan` print of it).
    /// `redactingPasswords` shows a placeholder instead, without reading the password (for `render`).
    public func objects(for vm: VM, environment: [String: String] = ProcessInfo.processInfo.environment,
                        redactingPasswords: Bool = false) throws -> [YAMLNode] {
        let userData = try text(of: vm.cloudInit.userData) ?? "#cloud-config\nhostname: \(vm.name)\n"
        guard let source = vm.cloudInit.password else { return [try virtualMachine(vm, userData: userData)] }
        let password = redactingPasswords ? "<password: redacted>" : try Self.password(source, vm: vm, environment: environment)
        let secret = YAMLNode.mapping([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", .mapping([("name", .string(vm.cloudInitSecretName)), ("namespace", .string(vm.namespace)),
                                   ("labels", .mapping([("app.kubernetes.io/managed-by", .string("parvester"))]))])),
            ("type", .string("Opaque")),
            // KubeVirt reads the user data from the key `userdata`.
            ("stringData", .mapping([("userdata", .string(try CloudConfig.settingPassword(password, in: userData, vm: vm.name)))])),
        ])
        return [secret, try virtualMachine(vm, userData: nil)]
    }

    /// The VirtualMachine alone; `userData` nil refers to the VM's cloud-init Secret instead.
    public func virtualMachine(_ vm: VM, userData: String?) throws -> YAMLNode {
        let template = try vm.template.map { try store.template(atPath: $0) } ?? store.template(named: "virtualmachine.yaml")
        let context = TemplateContext.vm(vm, userData: userData, networkData: try text(of: vm.cloudInit.networkData))
        return try TemplateEngine.render(template, context: .mapping([("vm", context)]))
    }

    /// Every object `up` applies after the components, in order: networks, images, VMs.
    public func allObjects(redactingPasswords: Bool = false) throws -> [YAMLNode] {
        try inventory.networks.map(networkAttachmentDefinition) + inventory.images.map(dataVolume)
            + inventory.vms.flatMap { try objects(for: $0, redactingPasswords: redactingPasswords) }
    }

    static func password(_ source: PasswordSource, vm: VM, environment: [String: String]) throws -> String {
        switch source {
        case .inline(let secret): return secret.revealed
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw YAMLError(.invalidValue, at: .none, file: path, "cannot read the password file of VM \(vm.name)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw YAMLError(.invalidValue, at: .none, file: nil, "VM \(vm.name): its password comes from $\(name), which is not set")
            }
            return value
        }
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
