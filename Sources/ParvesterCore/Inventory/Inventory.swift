import YAML

/// A validated inventory with every default applied: what phases work from.
public struct Inventory: Sendable {
    /// The path the inventory was read from, as the user gave it (for messages).
    public var file: String
    public var cluster: Cluster
    public var nodes: [Node]
    public var bridge: Bridge
    /// Enabled and disabled components, in the order they are applied.
    public var components: [Component]
    public var networks: [Network]
    public var images: [Image]
    public var vms: [VM]
    /// A directory whose files replace the built-in templates of the same name.
    public var templatesDirectory: String?
    /// How many nodes are worked on at once.
    public var concurrency: Int
    public static let defaultConcurrency = 10
    /// `components.mirror`: release downloads (manifests, and RKE2's artifacts for `fetch`) go through it.
    public var componentsMirror: String? = nil
    public var warnings: [InventoryWarning] = []
    /// `upgrade:`: how version changes and restarts roll over the nodes.
    public var upgrade = UpgradeSettings()
    /// `components.cdi.uploadProxyURL`: where this machine reaches CDI's upload proxy; nil asks CDI.
    public var uploadProxyURL: String? = nil
    /// `components.cdi.uploadProxyNodePort`: where `up` exposes the upload proxy when CDI reports no URL.
    public var uploadProxyNodePort: Int = Inventory.defaultUploadProxyNodePort

    public static let defaultUploadProxyNodePort = 31001
    public static let nodePortRange = 30000...32767

    public var servers: [Node] { nodes.filter { $0.role == .server } }
    public var agents: [Node] { nodes.filter { $0.role == .agent } }
    /// The server that creates the cluster; every other node joins through the cluster address.
    public var initialServer: Node { nodes.first { $0.initializesCluster }! }
    public var joiningServers: [Node] { servers.filter { !$0.initializesCluster } }
    public var enabledComponents: [Component] { components.filter(\.enabled) }
}

public struct Cluster: Sendable {
    public var name: String
    public var address: String
    /// SANs for the API certificate: the cluster address first, then the listed ones, without repeats.
    public var tlsSANs: [String]
    public var version: String
    public var install: Install
    public var token: TokenSource
    public var writeKubeconfigMode: String
    /// Extra RKE2 server options, written into every server's config.yaml as given.
    public var rke2Config: [YAMLNode.Pair]
    /// Extra RKE2 agent options, written into every agent's config.yaml as given.
    public var rke2AgentConfig: [YAMLNode.Pair]
    /// What a FAIL from `virt-host-validate qemu` does: stop the node (`fail`), only warn, or skip the check.
    public var virtHostValidate: VirtHostValidation
    /// The inventory's level for each host check it names; the others keep their default.
    public var hostCheckLevels: [HostCheck: CheckLevel] = [:]
    public var minFreeDisk: Int64 = HostCheck.defaultMinFreeDisk
    /// Install virt-host-validate (libvirt's client tools) with the node's package manager where it is missing.
    public var installHostTools = false

    public func level(_ check: HostCheck) -> CheckLevel { hostCheckLevels[check] ?? check.defaultLevel }
    /// RKE2's `cni` option when Parvester sets it (for RKE2's packaged Multus); nil leaves RKE2's default.
    public var cni: [String]? = nil
    public static let packagedMultusCNI = ["multus", "canal"]

    public static let defaultVersion = "v1.28.11+rke2r1"
    public static let defaultInstallScriptURL = "https://get.rke2.io"
    /// RKE2's own default: the cluster-admin kubeconfig readable by root alone (Parvester reads it with
    /// sudo). The memo's "0644" hands cluster-admin to every local user; it stays possible, with a warning.
    public static let defaultWriteKubeconfigMode = "0600"

    /// The supervisor URL joining nodes register with (RKE2 listens on 9345).
    public var joinURL: String {
        let host = NetworkNames.isIPv6(address) ? "[\(address)]" : address
        return "https://\(host):9345"
    }
}

public enum Install: Sendable, Equatable {
    /// Each node runs the install script from this URL (the node downloads RKE2).
    case online(scriptURL: String)
    /// Artifacts are uploaded from this local directory (resolved against the inventory's directory).
    case airgap(artifactsDirectory: String)
}

public enum TokenSource: Sendable, Equatable {
    case inline(Secret)
    /// A local file holding the token (resolved against the inventory's directory).
    case file(String)
    /// None given: generated once and kept in the local state directory.
    case generated
}

public struct SSHSettings: Sendable, Equatable {
    public var user: String
    public var port: Int
    /// nil: try the SSH agent, then the usual ~/.ssh/id_* files.
    public var identityFile: String?
    public var knownHostsFile: String
    /// Run privileged commands through sudo.
    public var become: Bool
    public var connectTimeout: DurationValue
    /// A jump host the node is reached through; nil: direct (or `ProxyJump` from ~/.ssh/config).
    public var bastion: Bastion?
    /// Whether the inventory set these itself; if not, ~/.ssh/config may (the inventory wins where both do).
    public var userIsExplicit = false
    public var portIsExplicit = false

    public static let defaultUser = "root"
    public static let defaultPort = 22
    public static let defaultKnownHostsFile = "~/.ssh/known_hosts"
    public static let defaultConnectTimeout = DurationValue.seconds(10)
    /// A node that takes longer than this to accept a TCP connection is down, not slow.
    public static let maximumConnectTimeout = DurationValue.seconds(600)
}

public struct Bastion: Sendable, Equatable {
    public var address: String
    public var port: Int?
    public var user: String?
    public var identityFile: String?
}

public struct Node: Sendable {
    public var name: String
    public var address: String
    public var role: NodeRole
    public var initializesCluster: Bool
    /// The NIC enslaved to the bridge; nil leaves the bridge without an uplink.
    public var uplink: String?
    public var ssh: SSHSettings
    public var labels: [(key: String, value: String)]
    public var taints: [String]
}

public struct Bridge: Sendable, Equatable {
    public var name: String
    public var allowSSHInterface: Bool
    /// Move the uplink's addresses, routes and DNS onto the bridge (a node with one NIC), through the node's
    /// network stack, with a rollback armed on the node (`NetworkTransaction`).
    public var moveAddresses = false
    /// How long a network change waits for Parvester to reconnect and confirm before the node restores
    /// its previous configuration by itself.
    public var rollbackAfter: Double = 60
    public static let defaultName = "br0"
}

public struct Component: Sendable, Equatable {
    public var kind: ComponentKind
    public var enabled: Bool
    public var version: String
    /// Empty for RKE2's packaged Multus: RKE2 deploys it, Parvester only waits for it.
    public var manifestURLs: [String]
    /// URL → the sha256 its download must have (the inventory's pins).
    public var pinnedSHA256: [String: String] = [:]
    public var multusSource: MultusSource? = nil

    public var isRKE2PackagedMultus: Bool { kind == .multus && multusSource == .rke2 }
}

public struct Network: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var bridge: String
    public var vlan: Int?
}

/// Something the inventory says that works but is unwise (an inline password), with its position.
public struct InventoryWarning: Sendable, CustomStringConvertible {
    public var description: String
}

public struct Image: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case url(String)
        /// A local file uploaded through CDI's upload proxy (resolved against the inventory's directory).
        case file(String)
        case blank
    }

    public var name: String
    public var namespace: String
    public var size: String
    public var storageClass: String
    public var accessMode: AccessMode
    public var source: Source
    public var contentType: ImageContentType
    public static let defaultStorageClass = "local-path"

    public init(name: String, namespace: String, size: String, storageClass: String, accessMode: AccessMode, source: Source,
                contentType: ImageContentType = .kubevirt) {
        self.name = name
        self.namespace = namespace
        self.size = size
        self.storageClass = storageClass
        self.accessMode = accessMode
        self.source = source
        self.contentType = contentType
    }
}

public struct VM: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var cpuCores: Int
    public var memory: String
    public var image: String
    /// More images attached as virtio disks after the boot disk, in order.
    public var extraDisks: [String] = []
    public var networks: [String]
    public var running: Bool
    /// When set, `running` is not written: KubeVirt takes one or the other.
    public var runStrategy: RunStrategy? = nil
    public var cloudInit: CloudInit
    public var template: String?
    public static let defaultCPUCores = 1
    public static let defaultMemory = "1Gi"

    /// Whether KubeVirt starts it once applied, so `up` waits for it to run.
    public var runsAtStart: Bool {
        guard let runStrategy else { return running }
        return [.always, .rerunOnFailure, .once].contains(runStrategy)
    }

    /// The Secret holding its cloud-init user data, when that carries a password.
    public var cloudInitSecretName: String { name + "-cloudinit" }
}

public struct CloudInit: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case inline(String)
        case file(String)
    }
    public var userData: Content?
    public var networkData: Content?
    /// The default user's password: set with cloud-init's `password`, kept in a Secret, never in the VM.
    public var password: PasswordSource? = nil
}

public enum PasswordSource: Sendable, Equatable {
    case inline(Secret)
    case file(String)
    case environment(String)
}

public let defaultNamespace = "default"
