import Foundation
import Testing
import YAML
@testable import ParvesterCore

@Suite("Files and objects rendered from the inventory")
struct RendererTests {
    static func inventory(_ name: String) throws -> Inventory {
        try InventoryLoader.load(path: FixturePaths.exampleInventories.appendingPathComponent(name).path)
    }

    @Test func singleServerGetsTheMemosConfig() throws {
        let inventory = try Self.inventory("single-node.yaml")
        let files = try RKE2ConfigRenderer(inventory: inventory).files(for: inventory.nodes[0], token: Secret("supersecret"))
        #expect(files == [RenderedFile(path: "/etc/rancher/rke2/config.yaml", content: """
            token: supersecret
            write-kubeconfig-mode: "0600"
            tls-san:
            - parvester.192.168.48.73.sslip.io
            - 192.168.48.73
            node-name: node1

            """, mode: 0o600, holdsSecret: true)])
    }

    @Test func joiningServersAndAgentsPointAtTheClusterAddress() throws {
        let inventory = try Self.inventory("cluster.yaml")
        let renderer = RKE2ConfigRenderer(inventory: inventory)
        let token = Secret("K10abc::server:tok")
        let first = try renderer.files(for: inventory.nodes[0], token: token)
        #expect(first.map(\.path) == ["/etc/rancher/rke2/config.yaml"])
        #expect(first[0].content.contains("cni: canal\netcd-snapshot-retention: 10\n"))

        let second = try renderer.files(for: inventory.nodes[1], token: token)
        #expect(second.map(\.path) == ["/etc/rancher/rke2/config.yaml", "/etc/rancher/rke2/config.yaml.d/10-server.yaml"])
        #expect(second[1] == RenderedFile(path: "/etc/rancher/rke2/config.yaml.d/10-server.yaml",
                                          content: "server: https://k8s.homelab.example:9345\n", mode: 0o600, holdsSecret: false))

        let agent = try renderer.files(for: inventory.nodes[4], token: token)
        #expect(agent == [RenderedFile(path: "/etc/rancher/rke2/config.yaml", content: """
            server: https://k8s.homelab.example:9345
            token: K10abc::server:tok
            node-name: worker2
            node-label:
            - topology.kubernetes.io/zone=rack-a
            node-taint:
            - dedicated=vms:NoSchedule

            """, mode: 0o600, holdsSecret: true)])
    }

    @Test func ipv6ClusterAddressIsBracketedInTheJoinURL() throws {
        let inventory = try InventoryLoader.load(bytes: Array("""
            cluster: {name: c, address: "fd00::10"}
            nodes: [{name: s1, address: "fd00::11", role: server}, {name: a1, address: "fd00::12", role: agent}]
            """.utf8), file: "v6.yaml", baseDirectory: "/")
        let agent = try RKE2ConfigRenderer(inventory: inventory).files(for: inventory.nodes[1], token: Secret("t"))
        #expect(agent[0].content.hasPrefix("server: https://[fd00::10]:9345\n"))
    }

    @Test func bridgeUnitRecreatesTheBridgeAndUplink() throws {
        let inventory = try Self.inventory("single-node.yaml")
        let file = try BridgeUnitRenderer(inventory: inventory).file(for: inventory.nodes[0])
        #expect(file.path == "/etc/systemd/system/parvester-bridge-br0.service")
        #expect(file.mode == 0o644)
        #expect(file.content == """
            [Unit]
            Description=Parvester VM bridge br0
            After=network-pre.target systemd-udev-settle.service
            Before=network.target rke2-server.service rke2-agent.service
            Wants=network-pre.target

            [Service]
            Type=oneshot
            RemainAfterExit=yes
            ExecStart=-/usr/sbin/ip link add br0 type bridge
            ExecStart=/bin/sh -c "if [ -e /sys/class/net/eth1 ]; then /usr/sbin/ip link set eth1 master br0 && /usr/sbin/ip link set eth1 up; else echo 'parvester-bridge - the uplink eth1 is missing, br0 is left without it' >&2; fi"
            ExecStart=/usr/sbin/ip link set br0 up

            [Install]
            WantedBy=multi-user.target

            """)
    }

    @Test func bridgeWithoutUplinkLeavesTheUplinkCommandsOut() throws {
        let inventory = try Self.inventory("lab.yaml")
        var node = inventory.nodes[0]
        node.uplink = nil
        let content = try BridgeUnitRenderer(inventory: inventory).file(for: node).content
        #expect(!content.contains("master"))
        #expect(content.contains("ExecStart=/usr/sbin/ip link set br0 up\n"))
    }

    @Test func unitRendererRefusesLineBreaks() {
        let tree = YAMLNode.mapping([("Service", .mapping([("ExecStart", .string("/bin/true\n[Service]\nUser=root"))]))])
        #expect(throws: YAMLError.self) { try SystemdUnitRenderer.render(tree, source: "x") }
    }

    @Test func networkAttachmentDefinitionCarriesTheBridgeAndVLAN() throws {
        let inventory = try Self.inventory("cluster.yaml")
        let nad = try ClusterObjectRenderer(inventory: inventory).networkAttachmentDefinition(inventory.networks[0])
        #expect(nad["kind"]?.scalar?.value == "NetworkAttachmentDefinition")
        #expect(nad["metadata"]?["namespace"]?.scalar?.value == "vms")
        #expect(nad["spec"]?["config"]?.scalar?.value
                == #"{"cniVersion":"0.3.1","name":"vlan-101","type":"bridge","bridge":"br0","vlan":101,"ipam":{}}"#)
    }

    @Test func dataVolumesFollowTheMemo() throws {
        let inventory = try Self.inventory("cluster.yaml")
        let renderer = ClusterObjectRenderer(inventory: inventory)
        let http = try renderer.dataVolume(inventory.images[0])
        #expect(http["metadata"]?["annotations"]?["cdi.kubevirt.io/storage.bind.immediate.requested"]?.scalar?.value == "")
        #expect(http["spec"]?["source"]?["http"]?["url"]?.scalar?.value.hasSuffix("GenericCloud-latest.x86_64.qcow2") == true)
        #expect(http["spec"]?["storage"]?["storageClassName"]?.scalar?.value == "local-path")
        #expect(http["spec"]?["storage"]?["resources"]?["requests"]?["storage"]?.scalar?.value == "20Gi")
        let blank = try renderer.dataVolume(inventory.images[1])
        #expect(blank["spec"]?["source"]?["blank"]?.mapping?.isEmpty == true)
    }

    @Test func virtualMachineMatchesTheMemosVM1() throws {
        let inventory = try Self.inventory("single-node.yaml")
        let objects = try ClusterObjectRenderer(inventory: inventory).objects(for: inventory.vms[0], environment: ["VM1_PASSWORD": "password"])
        #expect(objects.map { $0["kind"]?.scalar?.value } == ["Secret", "VirtualMachine"])
        let vm = objects[1]
        let spec = try #require(vm["spec"]?["template"]?["spec"])
        #expect(vm["spec"]?["running"]?.scalar?.value == "true")
        #expect(vm["spec"]?["runStrategy"] == nil)
        #expect(spec["domain"]?["cpu"]?["cores"]?.scalar?.value == "2")
        #expect(spec["domain"]?["machine"]?["type"]?.scalar?.value == "q35")
        #expect(spec["domain"]?["resources"]?["requests"]?["memory"]?.scalar?.value == "1024M")
        #expect(spec["domain"]?["devices"]?["disks"]?.sequence?.compactMap { $0["name"]?.scalar?.value } == ["disk0", "cloudinitdisk"])
        #expect(spec["networks"]?.sequence?.first?["multus"]?["networkName"]?.scalar?.value == "default/net-101")
        #expect(spec["domain"]?["devices"]?["interfaces"]?.sequence?.first?["name"]?.scalar?.value == "net-101")
        #expect(spec["volumes"]?.sequence?.first?["persistentVolumeClaim"]?["claimName"]?.scalar?.value == "fedora")
        // The password is in the Secret's user data only, set the memo's way.
        let cloudInit = spec["volumes"]?.sequence?[1]["cloudInitNoCloud"]
        #expect(cloudInit?["userData"] == nil)
        #expect(cloudInit?["userDataSecretRef"]?["name"]?.scalar?.value == "vm1-cloudinit")
        #expect(cloudInit?["networkData"]?.scalar?.value.contains("192.168.101.11/24") == true)
        let userData = try #require(objects[0]["stringData"]?["userdata"]?.scalar?.value)
        #expect(userData.hasPrefix("#cloud-config\n"))
        let config = try #require(try YAMLParser.parse(userData))
        #expect(config["hostname"]?.scalar?.value == "vm1" && config["password"]?.scalar?.value == "password")
        #expect(config["chpasswd"]?["expire"]?.scalar?.value == "false" && config["ssh_pwauth"]?.scalar?.value == "true")
        #expect(!(try YAMLEmitter.emit(vm)).contains("password"))
        // The emitted manifest reads back with the same values.
        let back = try #require(try YAMLParser.parse(try YAMLEmitter.emit(vm)))
        #expect(back.sameContent(as: vm))
    }

    @Test func aPasswordFromAnUnsetVariableIsAnErrorNamingItAndRenderRedactsIt() throws {
        let inventory = try Self.inventory("single-node.yaml")
        let renderer = ClusterObjectRenderer(inventory: inventory)
        let error = #expect(throws: YAMLError.self) { try renderer.objects(for: inventory.vms[0], environment: [:]) }
        #expect(error?.message.contains("$VM1_PASSWORD, which is not set") == true)
        let redacted = try renderer.objects(for: inventory.vms[0], environment: [:], redactingPasswords: true)
        #expect(redacted[0]["stringData"]?["userdata"]?.scalar?.value.contains("<password: redacted>") == true)
    }

    @Test func runStrategyExtraDisksAndPasswordWarnings() throws {
        let text = """
            cluster: {name: lab, address: 10.0.0.10}
            nodes: [{name: s1, address: 10.0.0.11, role: server}]
            images:
              - {name: boot, size: 1Gi, source: {blank: true}}
              - {name: data, size: 1Gi, source: {blank: true}}
              - {name: scratch, size: 1Gi, source: {blank: true}, contentType: archive}
            vms:
              - name: db
                image: boot
                disks: [data, scratch]
                runStrategy: Manual
                cloudInit:
                  password: hunter2
            """
        let inventory = try InventoryLoader.load(bytes: Array(text.utf8), file: "t.yaml", baseDirectory: "/tmp")
        #expect(inventory.warnings.map(\.description) == ["t.yaml:13:17: vms[0].cloudInit.password: the password is written in the inventory; prefer passwordFile or passwordEnv, so the inventory can be shared"])
        #expect(!inventory.vms[0].runsAtStart)
        let renderer = ClusterObjectRenderer(inventory: inventory)
        #expect(try renderer.dataVolume(inventory.images[0])["spec"]?["contentType"]?.scalar?.value == "kubevirt")
        #expect(try renderer.dataVolume(inventory.images[2])["spec"]?["contentType"]?.scalar?.value == "archive")
        let vm = try #require(try ClusterObjectRenderer(inventory: inventory).objects(for: inventory.vms[0]).last)
        #expect(vm["spec"]?["running"] == nil && vm["spec"]?["runStrategy"]?.scalar?.value == "Manual")
        let spec = try #require(vm["spec"]?["template"]?["spec"])
        #expect(spec["domain"]?["devices"]?["disks"]?.sequence?.compactMap { $0["name"]?.scalar?.value } == ["disk0", "disk1", "disk2", "cloudinitdisk"])
        #expect(spec["volumes"]?.sequence?.compactMap { $0["persistentVolumeClaim"]?["claimName"]?.scalar?.value } == ["boot", "data", "scratch"])
    }

    @Test func vmWithoutNetworksUsesThePodNetwork() throws {
        let inventory = try Self.inventory("cluster.yaml")
        var vm = inventory.vms[1]
        vm.networks = []
        let rendered = try #require(try ClusterObjectRenderer(inventory: inventory).objects(for: vm).last)
        #expect(rendered["spec"]?["template"]?["spec"]?["networks"] == nil)
        #expect(rendered["spec"]?["template"]?["spec"]?["domain"]?["devices"]?["interfaces"] == nil)
        #expect(rendered["spec"]?["running"]?.scalar?.value == "false")
    }
}
