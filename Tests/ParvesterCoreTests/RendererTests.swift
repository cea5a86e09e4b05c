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
            write-kubeconfig-mode: "0644"
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
            ExecStart=/usr/sbin/ip link set eth1 master br0
            ExecStart=/usr/sbin/ip link set br0 up
            ExecStart=/usr/sbin/ip link set eth1 up

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
        let vm = try ClusterObjectRenderer(inventory: inventory).virtualMachine(inventory.vms[0])
        let spec = try #require(vm["spec"]?["template"]?["spec"])
        #expect(vm["spec"]?["running"]?.scalar?.value == "true")
        #expect(spec["domain"]?["cpu"]?["cores"]?.scalar?.value == "2")
        #expect(spec["domain"]?["machine"]?["type"]?.scalar?.value == "q35")
        #expect(spec["domain"]?["resources"]?["requests"]?["memory"]?.scalar?.value == "1024M")
        #expect(spec["networks"]?.sequence?.first?["multus"]?["networkName"]?.scalar?.value == "default/net-101")
        #expect(spec["domain"]?["devices"]?["interfaces"]?.sequence?.first?["name"]?.scalar?.value == "net-101")
        #expect(spec["volumes"]?.sequence?.first?["persistentVolumeClaim"]?["claimName"]?.scalar?.value == "fedora")
        let userData = spec["volumes"]?.sequence?[1]["cloudInitNoCloud"]?["userData"]?.scalar?.value
        #expect(userData?.hasPrefix("#cloud-config\nhostname: vm1\n") == true)
        // The emitted manifest reads back with the same values.
        let back = try #require(try YAMLParser.parse(try YAMLEmitter.emit(vm)))
        #expect(back.sameContent(as: vm))
    }

    @Test func vmWithoutNetworksUsesThePodNetwork() throws {
        let inventory = try Self.inventory("cluster.yaml")
        var vm = inventory.vms[1]
        vm.networks = []
        let rendered = try ClusterObjectRenderer(inventory: inventory).virtualMachine(vm)
        #expect(rendered["spec"]?["template"]?["spec"]?["networks"] == nil)
        #expect(rendered["spec"]?["template"]?["spec"]?["domain"]?["devices"]?["interfaces"] == nil)
        #expect(rendered["spec"]?["running"]?.scalar?.value == "false")
    }
}
