import YAML

/// The values templates can refer to, as `${cluster.*}`, `${node.*}`, `${bridge.*}`, `${network.*}`,
/// `${image.*}` and `${vm.*}`. Absent optional values are null, so templates leave their keys out.
enum TemplateContext {
    private static func optional(_ value: String?) -> YAMLNode { value.map { .string($0) } ?? .null }

    private static func list(_ values: [String]) -> YAMLNode {
        values.isEmpty ? .null : .sequence(values.map { .string($0) })
    }

    private static func mapping(_ pairs: [YAMLNode.Pair]) -> YAMLNode {
        pairs.isEmpty ? .null : YAMLNode(.mapping(pairs))
    }

    static func cluster(_ inventory: Inventory, token: Secret) -> YAMLNode {
        let c = inventory.cluster
        return .mapping([
            ("name", .string(c.name)),
            ("address", .string(c.address)),
            ("joinURL", .string(c.joinURL)),
            ("tlsSANs", .sequence(c.tlsSANs.map { .string($0) })),
            ("version", .string(c.version)),
            ("token", .string(token.revealed)),
            ("writeKubeconfigMode", .string(c.writeKubeconfigMode)),
            ("rke2Config", mapping(c.rke2Config)),
            ("rke2AgentConfig", mapping(c.rke2AgentConfig)),
            ("cni", list(c.cni ?? [])),
        ])
    }

    static func node(_ node: Node) -> YAMLNode {
        .mapping([
            ("name", .string(node.name)),
            ("address", .string(node.address)),
            ("role", .string(node.role.rawValue)),
            // RKE2's node-label takes key=value strings.
            ("labels", list(node.labels.map { "\($0.key)=\($0.value)" })),
            ("taints", list(node.taints)),
            ("uplink", optional(node.uplink)),
        ])
    }

    static func bridge(_ bridge: Bridge, node: Node) -> YAMLNode {
        .mapping([("name", .string(bridge.name)), ("uplink", optional(node.uplink))])
    }

    static func network(_ network: Network) -> YAMLNode {
        .mapping([
            ("name", .string(network.name)),
            ("namespace", .string(network.namespace)),
            ("bridge", .string(network.bridge)),
            ("vlan", network.vlan.map { .int($0) } ?? .null),
        ])
    }

    static func image(_ image: Image) -> YAMLNode {
        let source: YAMLNode
        switch image.source {
        case .url(let url): source = .mapping([("http", .mapping([("url", .string(url))]))])
        case .file: source = .mapping([("upload", .mapping([]))])
        case .blank: source = .mapping([("blank", .mapping([]))])
        }
        return .mapping([
            ("name", .string(image.name)),
            ("namespace", .string(image.namespace)),
            ("size", .string(image.size)),
            ("storageClass", .string(image.storageClass)),
            ("accessMode", .string(image.accessMode.rawValue)),
            ("contentType", .string(image.contentType.rawValue)),
            ("source", source),
        ])
    }

    /// `userData` is the cloud-config text, or nil when it lives in the Secret `vm.cloudInitSecretName`.
    static func vm(_ vm: VM, userData: String?, networkData: String?) -> YAMLNode {
        // One bridge interface per Multus network, named after it; none leaves KubeVirt's pod network.
        let interfaces = vm.networks.map { name -> YAMLNode in
            .mapping([("name", .string(name)), ("bridge", .mapping([])), ("model", .string("virtio"))])
        }
        let networks = vm.networks.map { name -> YAMLNode in
            .mapping([("name", .string(name)), ("multus", .mapping([("networkName", .string("\(vm.namespace)/\(name)"))]))])
        }
        // Extra disks disk1, disk2, ... after the boot disk, each the PVC of its image.
        let extraDisks = vm.extraDisks.indices.map { i -> YAMLNode in
            .mapping([("name", .string("disk\(i + 1)")), ("disk", .mapping([("bus", .string("virtio"))]))])
        }
        let extraVolumes = vm.extraDisks.enumerated().map { i, image -> YAMLNode in
            .mapping([("name", .string("disk\(i + 1)")), ("persistentVolumeClaim", .mapping([("claimName", .string(image))]))])
        }
        return .mapping([
            ("name", .string(vm.name)),
            ("namespace", .string(vm.namespace)),
            ("cpu", .int(vm.cpuCores)),
            ("memory", .string(vm.memory)),
            ("image", .string(vm.image)),
            ("running", vm.runStrategy == nil ? .bool(vm.running) : .null),
            ("runStrategy", optional(vm.runStrategy?.rawValue)),
            ("extraDisks", extraDisks.isEmpty ? .null : .sequence(extraDisks)),
            ("extraVolumes", extraVolumes.isEmpty ? .null : .sequence(extraVolumes)),
            ("interfaces", interfaces.isEmpty ? .null : .sequence(interfaces)),
            ("networks", networks.isEmpty ? .null : .sequence(networks)),
            ("userData", optional(userData)),
            ("userDataSecretRef", userData == nil ? .mapping([("name", .string(vm.cloudInitSecretName))]) : .null),
            ("networkData", optional(networkData)),
        ])
    }
}
