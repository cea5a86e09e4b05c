import Foundation
import YAML

/// Applies defaults to an `InventorySpec` and checks everything that can be checked before any node is
/// touched. Problems are collected (not thrown one by one) so users can fix them all in one pass.
struct InventoryResolver {
    let spec: InventorySpec
    let tree: YAMLNode
    let file: String
    /// Directory that relative paths in the inventory are resolved against.
    let baseDirectory: String
    /// The inventory's lines, to place problems found inside block scalars (cloud-init user data).
    let sourceLines: [Substring]
    private(set) var problems: [YAMLError] = []
    private(set) var warnings: [InventoryWarning] = []

    init(spec: InventorySpec, tree: YAMLNode, file: String, baseDirectory: String, source: String = "") {
        self.sourceLines = source.split(separator: "\n", omittingEmptySubsequences: false)
        self.spec = spec
        self.tree = tree
        self.file = file
        self.baseDirectory = baseDirectory
    }

    /// Records a problem at the value under `path` (or at its key, for problems about the key itself).
    private mutating func problem(_ path: YAMLPath, _ message: String, atKey: Bool = false) {
        let mark = (atKey ? tree.keyMark(at: path) : nil) ?? tree.closestMark(to: path)
        problems.append(YAMLError(.invalidValue, at: mark, path: path, file: file, message))
    }

    private mutating func warn(_ path: YAMLPath, _ message: String) {
        warnings.append(InventoryWarning(description: YAMLError(.invalidValue, at: tree.closestMark(to: path), path: path, file: file, message).description))
    }

    private mutating func check(_ path: YAMLPath, _ problem: String?) {
        if let problem { self.problem(path, problem) }
    }

    private mutating func checkFileExists(_ path: YAMLPath, _ value: String, directory: Bool = false) {
        var isDirectory: ObjCBool = false
        let resolved = LocalPath.resolve(value, relativeTo: baseDirectory)
        if !FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) {
            problem(path, "\(value.quoted) does not exist (looked for \(resolved))")
        } else if isDirectory.boolValue != directory {
            problem(path, "\(value.quoted) is \(directory ? "not a directory" : "a directory, not a file")")
        }
    }

    private mutating func warnIfMissing(_ path: YAMLPath, _ value: String) {
        let resolved = LocalPath.resolve(value, relativeTo: baseDirectory)
        if !FileManager.default.fileExists(atPath: resolved) {
            warn(path, "\(value.quoted) does not exist here (looked for \(resolved)); `up` and `check` need it")
        }
    }

    // MARK: - Whole inventory

    mutating func resolve() -> Inventory? {
        var cluster = resolveCluster()
        if let url = spec.components?.cdi?.uploadProxyURL {
            check(YAMLPath([.key("components"), .key("cdi"), .key("uploadProxyURL")]), VersionStrings.urlProblem(url))
        }
        if let port = spec.components?.cdi?.uploadProxyNodePort, !Inventory.nodePortRange.contains(port) {
            check(YAMLPath([.key("components"), .key("cdi"), .key("uploadProxyNodePort")]),
                  "\(port) is not a NodePort: Kubernetes takes \(Inventory.nodePortRange.lowerBound)-\(Inventory.nodePortRange.upperBound) by default")
        }
        var bridge = Bridge(name: spec.bridge?.name ?? Bridge.defaultName, allowSSHInterface: spec.bridge?.allowSSHInterface ?? false)
        bridge.moveAddresses = spec.bridge?.moveAddresses ?? false
        if let after = spec.bridge?.rollbackAfter {
            if after.milliseconds < 10_000 {
                problem(YAMLPath([.key("bridge"), .key("rollbackAfter")]), "\(String(format: "%g", after.seconds))s is too short to reconnect and confirm: give at least 10s (the default is 60s)")
            } else {
                bridge.rollbackAfter = after.seconds
            }
        }
        check(YAMLPath([.key("bridge"), .key("name")]), NetworkNames.interfaceNameProblem(bridge.name))
        if let uplink = spec.bridge?.uplink { checkUplink(uplink, bridge: bridge.name, path: YAMLPath([.key("bridge"), .key("uplink")])) }
        let nodes = resolveNodes(bridge: bridge)
        let components = resolveComponents()
        cluster.cni = packagedCNI(components, rke2Config: cluster.rke2Config)
        let networks = resolveNetworks(bridge: bridge)
        let images = resolveImages()
        let vms = resolveVMs(images: images, networks: networks)
        if let templates = spec.templates { checkFileExists(YAMLPath([.key("templates")]), templates, directory: true) }

        // Document order; problems at the same position keep the order they were found in.
        problems = problems.enumerated().sorted { ($0.element.mark, $0.offset) < ($1.element.mark, $1.offset) }.map(\.element)
        guard problems.isEmpty else { return nil }
        var inventory = Inventory(
            file: file, cluster: cluster, nodes: nodes, bridge: bridge, components: components,
            networks: networks, images: images, vms: vms,
            templatesDirectory: spec.templates.map { LocalPath.resolve($0, relativeTo: baseDirectory) },
            concurrency: spec.ssh?.concurrency ?? Inventory.defaultConcurrency, componentsMirror: spec.components?.mirror,
            warnings: warnings, uploadProxyURL: spec.components?.cdi?.uploadProxyURL,
            uploadProxyNodePort: spec.components?.cdi?.uploadProxyNodePort ?? Inventory.defaultUploadProxyNodePort)
        let defaults = UpgradeSettings()
        inventory.upgrade = UpgradeSettings(maxUnavailable: spec.upgrade?.maxUnavailable ?? defaults.maxUnavailable,
                                            drain: spec.upgrade?.drain ?? defaults.drain, vms: spec.upgrade?.vms ?? defaults.vms)
        return inventory
    }

    // MARK: - cluster

    /// RKE2 keys Parvester writes itself, and the inventory field to use instead.
    static let managedRKE2Keys: [String: String] = [
        "token": "cluster.token", "token-file": "cluster.tokenFile", "agent-token": "cluster.token",
        "server": "the node's role (joining nodes get it from cluster.address)", "tls-san": "cluster.tlsSANs",
        "write-kubeconfig-mode": "cluster.writeKubeconfigMode", "node-name": "nodes[].name",
        "node-label": "nodes[].labels", "node-taint": "nodes[].taints",
    ]

    private mutating func resolveCluster() -> Cluster {
        let c = spec.cluster
        let base = YAMLPath([.key("cluster")])
        check(base.appending("name"), KubernetesNames.labelProblem(c.name, what: "cluster name"))
        check(base.appending("address"), NetworkNames.addressProblem(c.address))

        var sans = [c.address]
        for (i, san) in (c.tlsSANs ?? []).enumerated() {
            let host = san.hasPrefix("*.") ? String(san.dropFirst(2)) : san
            if let p = NetworkNames.addressProblem(host) { problem(base.appending("tlsSANs").appending(i), p) }
            if !sans.contains(san) { sans.append(san) }
        }

        let version = c.version ?? Cluster.defaultVersion
        check(base.appending("version"), VersionStrings.rke2Problem(version))

        let install = resolveInstall(c.install, path: base.appending("install"))

        let token: TokenSource
        switch (c.token, c.tokenFile) {
        case (let inline?, _?):
            problem(base.appending("tokenFile"), "give either token or tokenFile, not both", atKey: true)
            token = .inline(Secret(inline))
        case let (inline?, nil):
            // Never echo the value: it is a secret.
            if let p = ClusterToken.problem(inline) { problem(base.appending("token"), "the token \(p)") }
            token = .inline(Secret(inline))
        case let (nil, file?):
            let resolved = LocalPath.resolve(file, relativeTo: baseDirectory)
            checkFileExists(base.appending("tokenFile"), file)
            if FileManager.default.fileExists(atPath: resolved) {
                do {
                    let text = try ClusterToken.read(resolved)
                    if let p = ClusterToken.problem(text) { problem(base.appending("tokenFile"), "the token in \(resolved) \(p)") }
                } catch {
                    problem(base.appending("tokenFile"), "cannot read the token file \(resolved): \(error)")
                }
            }
            token = .file(resolved)
        case (nil, nil):
            token = .generated
        }

        let mode = c.writeKubeconfigMode ?? Cluster.defaultWriteKubeconfigMode
        if mode.wholeMatch(of: /0?[0-7]{3}/) == nil {
            problem(base.appending("writeKubeconfigMode"), "\(mode.quoted) is not a file mode such as \"0600\" or \"0640\" (quote it)")
        } else if let value = Int(mode, radix: 8), value & 0o007 != 0 {
            warn(base.appending("writeKubeconfigMode"), "\(mode.quoted) lets every user on the servers read the cluster-admin kubeconfig; "
                 + "leave it out (RKE2's default \"0600\") unless that is what you want")
        }

        let serverExtra = passThroughConfig(c.rke2Config, path: base.appending("rke2Config"))
        let agentExtra = passThroughConfig(c.rke2AgentConfig, path: base.appending("rke2AgentConfig"))
        var cluster = Cluster(name: c.name, address: c.address, tlsSANs: sans, version: version, install: install,
                              token: token, writeKubeconfigMode: mode, rke2Config: serverExtra, rke2AgentConfig: agentExtra,
                              virtHostValidate: c.virtHostValidate ?? .fail)
        cluster.hostCheckLevels = c.hostChecks?.levels ?? [:]
        cluster.installHostTools = c.installHostTools ?? false
        if let text = c.minFreeDisk {
            if let message = KubernetesNames.quantityProblem(text, what: "minFreeDisk") {
                problem(base.appending("minFreeDisk"), message)
            } else {
                cluster.minFreeDisk = KubernetesNames.quantityBytes(text)
            }
        }
        return cluster
    }

    /// The most values extra RKE2 options may expand to.
    static let maximumPassThroughValues = 10_000

    /// Extra RKE2 options: a mapping of option names that Parvester does not manage itself.
    private mutating func passThroughConfig(_ config: YAMLNode?, path: YAMLPath) -> [YAMLNode.Pair] {
        guard let config, !config.isNull else { return [] }
        guard let pairs = config.mapping else {
            problem(path, "expected a mapping of RKE2 options, got \(config.kindDescription)")
            return []
        }
        // Aliases below the parser's cap can still repeat a list into megabytes of config.yaml.
        if config.expandedCount(limit: Self.maximumPassThroughValues) > Self.maximumPassThroughValues {
            problem(path, "these options expand to more than \(Self.maximumPassThroughValues) values (aliases count as what they repeat); an RKE2 config is far smaller")
            return []
        }
        for pair in pairs {
            let key = pair.key.scalar?.value ?? ""
            if let owner = Self.managedRKE2Keys[key] {
                problem(path.appending(key), "\(key.quoted) is set by Parvester; use \(owner) instead", atKey: true)
            } else if key.wholeMatch(of: /[a-z0-9][a-z0-9-]*/) == nil {
                problem(path.appending(key), "\(key.quoted) is not an RKE2 option name (lower-case words joined by '-')", atKey: true)
            }
        }
        return pairs
    }

    private mutating func resolveInstall(_ spec: InstallSpec?, path: YAMLPath) -> Install {
        switch spec?.method ?? .online {
        case .online:
            if spec?.artifactsDir != nil {
                problem(path.appending("artifactsDir"), "artifactsDir is only used with method: airgap", atKey: true)
            }
            let url = spec?.scriptURL ?? Cluster.defaultInstallScriptURL
            check(path.appending("scriptURL"), VersionStrings.urlProblem(url))
            return .online(scriptURL: url)
        case .airgap:
            if spec?.scriptURL != nil {
                problem(path.appending("scriptURL"), "scriptURL is only used with method: online; airgap runs the install script from artifactsDir", atKey: true)
            }
            guard let dir = spec?.artifactsDir else {
                problem(path.appending("method"), "method: airgap needs artifactsDir, the local directory holding RKE2's airgap artifacts")
                return .airgap(artifactsDirectory: "")
            }
            // Whether it exists is checked when installing: an inventory validates on a machine without it.
            return .airgap(artifactsDirectory: LocalPath.resolve(dir, relativeTo: baseDirectory))
        }
    }

    // MARK: - ssh and nodes

    private mutating func resolveSSH(_ spec: SSHSpec?, over defaults: SSHSettings, path: YAMLPath) -> SSHSettings {
        var s = defaults
        if let user = spec?.user {
            if user.isEmpty || user.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0 == "@" }) {
                problem(path.appending("user"), "user \(user.quoted) must be a login name without white space or '@'")
            }
            s.user = user
            s.userIsExplicit = true
            // A non-root login needs sudo unless the inventory says otherwise.
            if spec?.become == nil { s.become = user != "root" }
        }
        if let port = spec?.port {
            if !(1...65535).contains(port) { problem(path.appending("port"), "port \(port) is outside 1-65535") }
            s.port = port
            s.portIsExplicit = true
        }
        // An inventory can be validated where the keys are not: a missing key warns; `up` refuses it
        // before touching any node.
        if let file = spec?.identityFile {
            s.identityFile = LocalPath.resolve(file, relativeTo: baseDirectory)
            warnIfMissing(path.appending("identityFile"), file)
        }
        if let bastion = spec?.bastion {
            let bastionPath = path.appending("bastion")
            check(bastionPath.appending("address"), NetworkNames.addressProblem(bastion.address))
            if let port = bastion.port, !(1...65535).contains(port) { problem(bastionPath.appending("port"), "port \(port) is outside 1-65535") }
            if let key = bastion.identityFile { warnIfMissing(bastionPath.appending("identityFile"), key) }
            s.bastion = Bastion(address: bastion.address, port: bastion.port, user: bastion.user,
                                identityFile: bastion.identityFile.map { LocalPath.resolve($0, relativeTo: baseDirectory) })
        }
        if let file = spec?.knownHostsFile { s.knownHostsFile = LocalPath.resolve(file, relativeTo: baseDirectory) }
        if let become = spec?.become { s.become = become }
        if let timeout = spec?.connectTimeout {
            if timeout.milliseconds <= 0 || timeout > SSHSettings.maximumConnectTimeout {
                problem(path.appending("connectTimeout"), "connectTimeout must be longer than zero and at most \(SSHSettings.maximumConnectTimeout), got \(timeout)")
            }
            s.connectTimeout = timeout
        }
        return s
    }

    private mutating func checkUplink(_ uplink: String, bridge: String, path: YAMLPath) {
        if let p = NetworkNames.interfaceNameProblem(uplink) {
            problem(path, p)
        } else if uplink == bridge {
            problem(path, "the uplink cannot be the bridge \(bridge.quoted) itself")
        }
    }

    private mutating func resolveNodes(bridge: Bridge) -> [Node] {
        let sshPath = YAMLPath([.key("ssh")])
        let defaults = resolveSSH(spec.ssh, over: SSHSettings(
            user: SSHSettings.defaultUser, port: SSHSettings.defaultPort, identityFile: nil,
            knownHostsFile: LocalPath.resolve(SSHSettings.defaultKnownHostsFile, relativeTo: baseDirectory), become: false, connectTimeout: SSHSettings.defaultConnectTimeout),
            path: sshPath)
        if let concurrency = spec.ssh?.concurrency, !(1...1000).contains(concurrency) {
            problem(sshPath.appending("concurrency"), "concurrency must be between 1 and 1000, got \(concurrency)")
        }

        var nodes: [Node] = []
        var seenNames: [String: Int] = [:]
        var seenAddresses: [String: Int] = [:]
        let explicitInit = spec.nodes.indices.filter { spec.nodes[$0].initialize == true }
        let initIndex = explicitInit.first ?? spec.nodes.firstIndex { $0.role == .server }

        for (i, n) in spec.nodes.enumerated() {
            let path = YAMLPath([.key("nodes"), .index(i)])
            if let p = KubernetesNames.labelProblem(n.name, what: "node name") {
                problem(path.appending("name"), p)
            } else if let first = seenNames[n.name] {
                problem(path.appending("name"), "node name \(n.name.quoted) is already used by nodes[\(first)]")
            }
            seenNames[n.name] = seenNames[n.name] ?? i

            let addressKey = NetworkNames.canonicalAddress(n.address)
            if let p = NetworkNames.addressProblem(n.address) {
                problem(path.appending("address"), p)
            } else if let first = seenAddresses[addressKey] {
                problem(path.appending("address"), "address \(n.address.quoted) is already used by nodes[\(first)] (\(spec.nodes[first].name))")
            }
            seenAddresses[addressKey] = seenAddresses[addressKey] ?? i

            if n.initialize == true {
                if n.role != .server {
                    problem(path.appending("init"), "only a server can initialise the cluster; this node is an agent")
                } else if explicitInit.count > 1, i != explicitInit.first {
                    problem(path.appending("init"), "only one node can initialise the cluster; nodes[\(explicitInit[0])] already does")
                }
            }

            let uplink = n.uplink ?? spec.bridge?.uplink
            if let own = n.uplink { checkUplink(own, bridge: bridge.name, path: path.appending("uplink")) }

            if n.ssh?.concurrency != nil {
                problem(path.appending("ssh").appending("concurrency"), "concurrency is a setting of the top-level ssh section, not of a node", atKey: true)
            }
            let ssh = resolveSSH(n.ssh, over: defaults, path: path.appending("ssh"))

            var labels: [(key: String, value: String)] = []
            for (key, value) in (n.labels ?? [:]).sorted(by: { $0.key < $1.key }) {
                let labelPath = path.appending("labels").appending(key)
                if let p = KubernetesNames.labelKeyProblem(key) { problem(labelPath, p, atKey: true) }
                if let p = KubernetesNames.labelValueProblem(value) { problem(labelPath, p) }
                labels.append((key, value))
            }
            for (t, taint) in (n.taints ?? []).enumerated() {
                check(path.appending("taints").appending(t), KubernetesNames.taintProblem(taint))
            }
            nodes.append(Node(name: n.name, address: n.address, role: n.role, initializesCluster: i == initIndex,
                              uplink: uplink, ssh: ssh, labels: labels, taints: n.taints ?? []))
        }

        if spec.nodes.isEmpty {
            problem(YAMLPath([.key("nodes")]), "the inventory lists no nodes; add at least one server")
        } else if !spec.nodes.contains(where: { $0.role == .server }) {
            problem(YAMLPath([.key("nodes")]), "at least one node must have role: server (all \(spec.nodes.count) are agents)")
        }
        return nodes
    }

    // MARK: - components

    private mutating func resolveComponents() -> [Component] {
        let mirror = spec.components?.mirror
        if let mirror {
            check(YAMLPath([.key("components"), .key("mirror")]), VersionStrings.urlProblem(mirror))
        }
        return ComponentKind.allCases.map { kind in
            let given: ComponentSpec?
            switch kind {
            case .kubevirt: given = spec.components?.kubevirt
            case .cdi: given = spec.components?.cdi?.component
            case .localPathProvisioner: given = spec.components?.localPathProvisioner
            case .multus: given = spec.components?.multus?.component
            }
            let path = YAMLPath([.key("components"), .key(kind.rawValue)])
            let version = given?.version ?? kind.defaultVersion
            check(path.appending("version"), VersionStrings.releaseProblem(version))
            var urls = given?.manifests ?? kind.manifestURLs(version: version).map { ComponentKind.mirrored($0, through: mirror) }
            if given?.manifests?.isEmpty == true {
                problem(path.appending("manifests"), "manifests is empty; leave it out to use the release manifests, or set enabled: false")
            }
            for (i, url) in (given?.manifests ?? []).enumerated() {
                check(path.appending("manifests").appending(i), VersionStrings.urlProblem(url, allowFile: true))
            }
            var source: MultusSource?
            if kind == .multus {
                source = spec.components?.multus?.source ?? .release
                if source == .rke2 {
                    if given?.manifests != nil {
                        problem(path.appending("manifests"), "source: rke2 deploys RKE2's own Multus; manifests are only for source: release", atKey: true)
                    }
                    if given?.version != nil {
                        problem(path.appending("version"), "source: rke2 deploys the Multus that comes with cluster.version; leave version out", atKey: true)
                    }
                    urls = []
                }
            }
            let pins = resolvePins(given?.sha256, urls: urls, path: path.appending("sha256"))
            return Component(kind: kind, enabled: given?.enabled ?? true, version: version, manifestURLs: urls,
                             pinnedSHA256: pins, multusSource: source)
        }
    }

    /// `sha256:` pins keyed by a manifest's file name or whole URL, turned into URL → sha256.
    private mutating func resolvePins(_ given: [String: String]?, urls: [String], path: YAMLPath) -> [String: String] {
        var pins: [String: String] = [:]
        for (key, hash) in (given ?? [:]).sorted(by: { $0.key < $1.key }) {
            if hash.wholeMatch(of: /[0-9a-f]{64}/) == nil {
                problem(path.appending(key), "\(hash.quoted) is not a sha256 (64 lower-case hex digits)")
            }
            let matching = urls.filter { $0 == key || $0.split(separator: "/").last.map(String.init) == key }
            switch matching.count {
            case 1: pins[matching[0]] = hash
            case 0:
                let names = urls.compactMap { $0.split(separator: "/").last.map(String.init) }
                problem(path.appending(key), "\(key.quoted) is none of this component's manifests (\(names.joined(separator: ", ")))", atKey: true)
            default:
                problem(path.appending(key), "\(key.quoted) names \(matching.count) manifests; pin each by its whole URL", atKey: true)
            }
        }
        return pins
    }

    /// RKE2's `cni` for its packaged Multus: written by Parvester, or already in `rke2Config` with multus.
    private mutating func packagedCNI(_ components: [Component], rke2Config: [YAMLNode.Pair]) -> [String]? {
        guard components.contains(where: { $0.enabled && $0.isRKE2PackagedMultus }) else { return nil }
        guard let given = rke2Config.first(where: { $0.key.scalar?.value == "cni" }) else { return Cluster.packagedMultusCNI }
        let names = given.value.sequence?.compactMap { $0.scalar?.value }
            ?? (given.value.scalar?.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [])
        if names.first != "multus" {
            problem(YAMLPath([.key("cluster"), .key("rke2Config"), .key("cni")]),
                    "components.multus.source: rke2 needs multus first in cni, as in [multus, canal]")
        }
        return nil
    }

    // MARK: - networks, images, VMs

    /// Object names are DNS-1123 labels, unique per namespace; `seen` maps namespace/name to its index.
    private mutating func checkObjectName(_ name: String, namespace: String, path: YAMLPath, index: Int, what: String,
                                          seen: inout [String: Int]) {
        if let p = KubernetesNames.labelProblem(name, what: "\(what) name") {
            problem(path.appending("name"), p)
        } else if let first = seen["\(namespace)/\(name)"] {
            problem(path.appending("name"), "\(what) \(name.quoted) is already defined in namespace \(namespace) (entry [\(first)])")
        }
        check(path.appending("namespace"), KubernetesNames.labelProblem(namespace, what: "namespace"))
        seen["\(namespace)/\(name)"] = seen["\(namespace)/\(name)"] ?? index
    }

    private mutating func resolveNetworks(bridge: Bridge) -> [Network] {
        var seen: [String: Int] = [:]
        return (spec.networks ?? []).enumerated().map { i, n in
            let path = YAMLPath([.key("networks"), .index(i)])
            let namespace = n.namespace ?? defaultNamespace
            checkObjectName(n.name, namespace: namespace, path: path, index: i, what: "network", seen: &seen)
            let bridgeName = n.bridge ?? bridge.name
            check(path.appending("bridge"), NetworkNames.interfaceNameProblem(bridgeName))
            if let vlan = n.vlan, !(1...4094).contains(vlan) {
                problem(path.appending("vlan"), "VLAN \(vlan) is outside 1-4094")
            }
            return Network(name: n.name, namespace: namespace, bridge: bridgeName, vlan: n.vlan)
        }
    }

    private mutating func resolveImages() -> [Image] {
        var seen: [String: Int] = [:]
        return (spec.images ?? []).enumerated().map { i, image in
            let path = YAMLPath([.key("images"), .index(i)])
            let namespace = image.namespace ?? defaultNamespace
            checkObjectName(image.name, namespace: namespace, path: path, index: i, what: "image", seen: &seen)
            check(path.appending("size"), KubernetesNames.quantityProblem(image.size, what: "size"))
            let storageClass = image.storageClass ?? Image.defaultStorageClass
            check(path.appending("storageClass"), KubernetesNames.subdomainProblem(storageClass, what: "storage class"))

            let sourcePath = path.appending("source")
            let s = image.source
            let given = [s.url != nil, s.file != nil, s.blank == true].filter { $0 }.count
            var source = Image.Source.blank
            if given != 1 {
                problem(sourcePath, given == 0 ? "give one source: url, file or blank: true"
                                               : "give only one source: url, file or blank: true")
            } else if let url = s.url {
                check(sourcePath.appending("url"), VersionStrings.urlProblem(url))
                source = .url(url)
            } else if let file = s.file {
                // Whether it exists is checked when uploading: an inventory validates on a machine without it.
                source = .file(LocalPath.resolve(file, relativeTo: baseDirectory))
            }
            return Image(name: image.name, namespace: namespace, size: image.size, storageClass: storageClass,
                         accessMode: image.accessMode ?? .readWriteOnce, source: source, contentType: image.contentType ?? .kubevirt)
        }
    }

    /// What `render` and `up` would refuse later, refused now: user data that does not parse, and a
    /// password for user data that is not #cloud-config (a script cannot take one).
    private mutating func checkCloudInit(_ cloudInit: CloudInit, path: YAMLPath) {
        for (name, content) in [("userData", cloudInit.userData), ("networkData", cloudInit.networkData)] {
            guard let content else { continue }
            let text: String
            switch content {
            case .inline(let inline): text = inline
            case .file(let file):
                guard let data = FileManager.default.contents(atPath: file) else { continue }  // reported as missing
                text = String(decoding: data, as: UTF8.self)
            }
            let isUserData = name == "userData"
            if isUserData, cloudInit.password != nil, !text.hasPrefix(CloudConfig.header) {
                problem(path.appending(name), "a password can only be added to #cloud-config user data, and this user data is "
                        + "\(text.hasPrefix("#!") ? "a script" : "not #cloud-config"); set the password inside it, or start it with #cloud-config")
            }
            // Scripts and other user data formats are not YAML; #cloud-config and network data are.
            guard !isUserData || text.hasPrefix(CloudConfig.header) else { continue }
            do {
                let tree = try YAMLParser.parse(text, file: nil)
                if let tree, !tree.isNull, tree.mapping == nil {
                    problem(path.appending(name), "\(isUserData ? "#cloud-config user data" : "network data") must be a mapping, got \(tree.kindDescription)")
                }
            } catch let error as YAMLError {
                switch content {
                case .inline:
                    // Positions inside the block become positions in the inventory, also in the message.
                    var message = error.message
                    if let match = message.firstMatch(of: /at (\d+):(\d+)\)/), let l = Int(match.1), let c = Int(match.2) {
                        message.replaceSubrange(match.range, with: "at \(blockMark(Mark(line: l, column: c), of: path.appending(name))))")
                    }
                    problems.append(YAMLError(error.kind, at: blockMark(error.mark, of: path.appending(name)),
                                              path: path.appending(name), file: file, message))
                case .file(let other): problems.append(error.inFile(other))
                }
            } catch {
                problem(path.appending(name), "\(error)")
            }
        }
    }

    /// Where a position inside a block scalar (`userData: |`) sits in the inventory file. Other scalar
    /// styles fold lines, so their problems are placed at the value itself.
    private func blockMark(_ inner: Mark, of path: YAMLPath) -> Mark {
        guard let node = tree.node(at: path), let scalar = node.scalar,
              scalar.style == .literal, inner.isKnown, node.mark.line + inner.line - 1 < sourceLines.count else {
            return tree.closestMark(to: path)
        }
        let line = node.mark.line + inner.line
        let indent = sourceLines[line - 1].prefix { $0 == " " }.count
        return Mark(line: line, column: indent + inner.column)
    }

    private mutating func resolveCloudInitPart(inline: TextBlock?, file: String?, path: YAMLPath, name: String) -> CloudInit.Content? {
        switch (inline, file) {
        case (_?, _?):
            problem(path.appending("\(name)File"), "give either \(name) or \(name)File, not both", atKey: true)
            return nil
        case let (block?, nil):
            return .inline(block.text)
        case let (nil, file?):
            checkFileExists(path.appending("\(name)File"), file)
            return .file(LocalPath.resolve(file, relativeTo: baseDirectory))
        case (nil, nil):
            return nil
        }
    }

    /// The VM's password: from a file or an environment variable (read when rendering, never stored
    /// here), or inline, which works but earns a warning: the inventory then holds a secret.
    private mutating func resolvePassword(_ spec: CloudInitSpec?, path: YAMLPath) -> PasswordSource? {
        let given = [spec?.password != nil, spec?.passwordFile != nil, spec?.passwordEnv != nil].filter { $0 }.count
        if given > 1 {
            problem(path, "give one of password, passwordFile or passwordEnv")
            return nil
        }
        if let userData = spec?.userData?.text, userData.hasPrefix(CloudConfig.header),
           let keys = (try? YAMLParser.parse(userData))??.mapping?.compactMap({ $0.key.scalar?.value }), keys.contains("password") {
            if given > 0 {
                problem(path.appending("userData"), "the user data sets password and so does cloudInit; keep one")
            } else {
                warn(path.appending("userData"), "the user data holds a password; prefer passwordFile or passwordEnv, so the inventory can be shared")
            }
        }
        if let inline = spec?.password {
            warn(path.appending("password"), "the password is written in the inventory; prefer passwordFile or passwordEnv, so the inventory can be shared")
            return .inline(Secret(inline))
        }
        if let file = spec?.passwordFile {
            // Read when the VM is rendered for `up`, like passwordEnv: the inventory validates without it.
            return .file(LocalPath.resolve(file, relativeTo: baseDirectory))
        }
        if let variable = spec?.passwordEnv {
            if variable.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) == nil {
                problem(path.appending("passwordEnv"), "\(variable.quoted) is not an environment variable name")
            }
            return .environment(variable)
        }
        return nil
    }

    private mutating func resolveVMs(images: [Image], networks: [Network]) -> [VM] {
        var seen: [String: Int] = [:]
        return (spec.vms ?? []).enumerated().map { i, vm in
            let path = YAMLPath([.key("vms"), .index(i)])
            let namespace = vm.namespace ?? defaultNamespace
            checkObjectName(vm.name, namespace: namespace, path: path, index: i, what: "VM", seen: &seen)
            let cpu = vm.cpu ?? VM.defaultCPUCores
            if !(1...512).contains(cpu) { problem(path.appending("cpu"), "cpu must be between 1 and 512 cores, got \(cpu)") }
            let memory = vm.memory ?? VM.defaultMemory
            check(path.appending("memory"), KubernetesNames.quantityProblem(memory, what: "memory"))

            if !images.contains(where: { $0.name == vm.image && $0.namespace == namespace }) {
                let known = images.filter { $0.namespace == namespace }.map(\.name)
                problem(path.appending("image"), "no image named \(vm.image.quoted) in namespace \(namespace)"
                        + (known.isEmpty ? "; define it under images" : "; known images: \(known.joined(separator: ", "))"))
            }
            for (n, network) in (vm.networks ?? []).enumerated()
            where !networks.contains(where: { $0.name == network && $0.namespace == namespace }) {
                let known = networks.filter { $0.namespace == namespace }.map(\.name)
                problem(path.appending("networks").appending(n), "no network named \(network.quoted) in namespace \(namespace)"
                        + (known.isEmpty ? "; define it under networks" : "; known networks: \(known.joined(separator: ", "))"))
            }
            for (n, disk) in (vm.disks ?? []).enumerated() {
                if !images.contains(where: { $0.name == disk && $0.namespace == namespace }) {
                    problem(path.appending("disks").appending(n), "no image named \(disk.quoted) in namespace \(namespace); define it under images")
                } else if disk == vm.image || (vm.disks ?? []).prefix(n).contains(disk) {
                    problem(path.appending("disks").appending(n), "image \(disk.quoted) is already attached to this VM; a disk can be attached once")
                }
            }
            if vm.running != nil, vm.runStrategy != nil {
                problem(path.appending("runStrategy"), "give either running or runStrategy, not both (KubeVirt takes one)", atKey: true)
            }
            let ciPath = path.appending("cloudInit")
            var cloudInit = CloudInit(
                userData: resolveCloudInitPart(inline: vm.cloudInit?.userData, file: vm.cloudInit?.userDataFile, path: ciPath, name: "userData"),
                networkData: resolveCloudInitPart(inline: vm.cloudInit?.networkData, file: vm.cloudInit?.networkDataFile, path: ciPath, name: "networkData"))
            cloudInit.password = resolvePassword(vm.cloudInit, path: ciPath)
            checkCloudInit(cloudInit, path: ciPath)
            if let template = vm.template { checkFileExists(path.appending("template"), template) }
            return VM(name: vm.name, namespace: namespace, cpuCores: cpu, memory: memory, image: vm.image, extraDisks: vm.disks ?? [],
                      networks: vm.networks ?? [], running: vm.running ?? true, runStrategy: vm.runStrategy, cloudInit: cloudInit,
                      template: vm.template.map { LocalPath.resolve($0, relativeTo: baseDirectory) })
        }
    }
}
