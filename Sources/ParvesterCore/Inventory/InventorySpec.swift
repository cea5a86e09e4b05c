import YAML

// The inventory exactly as written: optional where the file may leave a field out, no defaults applied.
// `InventoryResolver` turns it into an `Inventory`. Each `CodingKeys` lists the keys accepted, which
// lets the decoder refuse unknown keys with a suggestion.

struct InventorySpec: Decodable {
    var cluster: ClusterSpec
    var ssh: SSHSpec?
    var nodes: [NodeSpec]
    var bridge: BridgeSpec?
    var components: ComponentsSpec?
    var networks: [NetworkSpec]?
    var images: [ImageSpec]?
    var vms: [VMSpec]?
    var templates: String?
    var upgrade: UpgradeSpec?
    enum CodingKeys: String, CodingKey, CaseIterable { case cluster, ssh, nodes, bridge, components, networks, images, vms, templates, upgrade }
}

struct UpgradeSpec: Decodable {
    var maxUnavailable: MaxUnavailable?
    var drain: Bool?
    var vms: RemovalSettings.VMPolicy?
    enum CodingKeys: String, CodingKey, CaseIterable { case maxUnavailable, drain, vms }
}

struct ClusterSpec: Decodable {
    var name: String
    var address: String
    var tlsSANs: [String]?
    var version: String?
    var install: InstallSpec?
    var token: String?
    var tokenFile: String?
    var writeKubeconfigMode: String?
    var rke2Config: YAMLNode?
    var rke2AgentConfig: YAMLNode?
    var virtHostValidate: CheckLevel?
    var hostChecks: HostChecksSpec?
    var minFreeDisk: String?
    var installHostTools: Bool?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, address, tlsSANs, version, install, token, tokenFile, writeKubeconfigMode, rke2Config, rke2AgentConfig, virtHostValidate,
             hostChecks, minFreeDisk, installHostTools
    }
}

/// What a finding of a host check (or a FAIL line of `virt-host-validate qemu`) does to a node: stop it,
/// only warn, or skip the check.
public enum CheckLevel: String, YAMLChoice, Sendable { case fail, warn, skip }
public typealias VirtHostValidation = CheckLevel

/// `cluster.hostChecks`: a level per check, by the check's name (see `HostCheck`).
struct HostChecksSpec: Decodable {
    var ports, firewall, networkManager, hostname, clock, disk, kernelModules, sysctls, swap, cgroup: CheckLevel?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case ports, firewall, networkManager, hostname, clock, disk, kernelModules, sysctls, swap, cgroup
    }

    var levels: [HostCheck: CheckLevel] {
        let all: [(HostCheck, CheckLevel?)] = [(.ports, ports), (.firewall, firewall), (.networkManager, networkManager), (.hostname, hostname),
                                               (.clock, clock), (.disk, disk), (.kernelModules, kernelModules), (.sysctls, sysctls),
                                               (.swap, swap), (.cgroup, cgroup)]
        return all.reduce(into: [:]) { levels, pair in if let level = pair.1 { levels[pair.0] = level } }
    }
}

public enum InstallMethod: String, YAMLChoice, Sendable { case online, airgap }

struct InstallSpec: Decodable {
    var method: InstallMethod?
    var scriptURL: String?
    var artifactsDir: String?
    enum CodingKeys: String, CodingKey, CaseIterable { case method, scriptURL, artifactsDir }
}

struct SSHSpec: Decodable {
    var user: String?
    var port: Int?
    var identityFile: String?
    var knownHostsFile: String?
    var become: Bool?
    var connectTimeout: DurationValue?
    var concurrency: Int?
    var bastion: BastionSpec?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case user, port, identityFile, knownHostsFile, become, connectTimeout, concurrency, bastion
    }
}

struct BastionSpec: Decodable {
    var address: String
    var port: Int?
    var user: String?
    var identityFile: String?
    enum CodingKeys: String, CodingKey, CaseIterable { case address, port, user, identityFile }
}

public enum NodeRole: String, YAMLChoice, Sendable { case server, agent }

struct NodeSpec: Decodable {
    var name: String
    var address: String
    var role: NodeRole
    var initialize: Bool?
    var uplink: String?
    var ssh: SSHSpec?
    var labels: [String: String]?
    var taints: [String]?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, address, role, initialize = "init", uplink, ssh, labels, taints
    }
}

struct BridgeSpec: Decodable {
    var name: String?
    var uplink: String?
    var allowSSHInterface: Bool?
    var moveAddresses: Bool?
    var rollbackAfter: DurationValue?
    enum CodingKeys: String, CodingKey, CaseIterable { case name, uplink, allowSSHInterface, moveAddresses, rollbackAfter }
}

struct ComponentsSpec: Decodable {
    var mirror: String?
    var kubevirt: ComponentSpec?
    var cdi: CDISpec?
    var localPathProvisioner: ComponentSpec?
    var multus: MultusSpec?
    enum CodingKeys: String, CodingKey, CaseIterable { case kubevirt, cdi, localPathProvisioner, multus, mirror }
}

struct ComponentSpec: Decodable {
    var enabled: Bool?
    var version: String?
    var manifests: [String]?
    /// Manifest file name (or whole URL) → the sha256 its download must have.
    var sha256: [String: String]?
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, version, manifests, sha256 }
}

/// Multus takes what every component takes, plus where it comes from.
struct MultusSpec: Decodable {
    var enabled: Bool?
    var version: String?
    var manifests: [String]?
    var sha256: [String: String]?
    var source: MultusSource?
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, version, manifests, sha256, source }

    var component: ComponentSpec { ComponentSpec(enabled: enabled, version: version, manifests: manifests, sha256: sha256) }
}

/// CDI takes what every component takes, plus where its upload proxy is reached from this machine.
struct CDISpec: Decodable {
    var enabled: Bool?
    var version: String?
    var manifests: [String]?
    var sha256: [String: String]?
    var uploadProxyURL: String?
    var uploadProxyNodePort: Int?
    enum CodingKeys: String, CodingKey, CaseIterable { case enabled, version, manifests, sha256, uploadProxyURL, uploadProxyNodePort }

    var component: ComponentSpec { ComponentSpec(enabled: enabled, version: version, manifests: manifests, sha256: sha256) }
}

/// `release`: the memo's thin-plugin DaemonSet from Multus's release manifest. `rke2`: RKE2's packaged
/// Multus chart, enabled by `cni: [multus, canal]` in every server's config.
public enum MultusSource: String, YAMLChoice, Sendable { case release, rke2 }

struct NetworkSpec: Decodable {
    var name: String
    var namespace: String?
    var bridge: String?
    var vlan: Int?
    enum CodingKeys: String, CodingKey, CaseIterable { case name, namespace, bridge, vlan }
}

public enum AccessMode: String, YAMLChoice, Sendable {
    case readWriteOnce = "ReadWriteOnce", readWriteMany = "ReadWriteMany"
    case readOnlyMany = "ReadOnlyMany", readWriteOncePod = "ReadWriteOncePod"
}

struct ImageSpec: Decodable {
    var name: String
    var namespace: String?
    var size: String
    var storageClass: String?
    var accessMode: AccessMode?
    var contentType: ImageContentType?
    var source: ImageSourceSpec
    enum CodingKeys: String, CodingKey, CaseIterable { case name, namespace, size, storageClass, accessMode, contentType, source }
}

/// CDI's `contentType`: a VM disk image (qcow2, raw, ISO), or a tar archive unpacked onto a filesystem.
public enum ImageContentType: String, YAMLChoice, Sendable { case kubevirt, archive }

struct ImageSourceSpec: Decodable {
    var url: String?
    var file: String?
    var blank: Bool?
    enum CodingKeys: String, CodingKey, CaseIterable { case url, file, blank }
}

struct VMSpec: Decodable {
    var name: String
    var namespace: String?
    var cpu: Int?
    var memory: String?
    var image: String
    var networks: [String]?
    var running: Bool?
    var runStrategy: RunStrategy?
    var disks: [String]?
    var cloudInit: CloudInitSpec?
    var template: String?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, namespace, cpu, memory, image, disks, networks, running, runStrategy, cloudInit, template
    }
}

/// KubeVirt's run strategies (`spec.runStrategy`), the alternative to `running: true|false`.
public enum RunStrategy: String, YAMLChoice, Sendable {
    case always = "Always", halted = "Halted", manual = "Manual", rerunOnFailure = "RerunOnFailure", once = "Once"
}

struct CloudInitSpec: Decodable {
    var userData: TextBlock?
    var userDataFile: String?
    var networkData: TextBlock?
    var networkDataFile: String?
    var password: String?
    var passwordFile: String?
    var passwordEnv: String?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case userData, userDataFile, networkData, networkDataFile, password, passwordFile, passwordEnv
    }
}
