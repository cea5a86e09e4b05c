import Foundation
import Kube
import TestSupport
import Testing

/// Images and VMs from the inventory, and the image and vm commands, against the lab's CDI and
/// KubeVirt doubles (upload proxy, upload tokens, virt-api's start/stop/restart). Nodes lab27-lab28.
@Suite("Images and VMs", .enabled(if: !Lab.skipped, Lab.skipReason))
struct ImagesAndVMsTests {
    /// A cluster with the components from the lab's mirror, and `extra` (images, vms) in its inventory.
    static func cluster(_ name: String, on node: String, extra: String) async throws -> UpCluster {
        var cluster = try await UpCluster.make(name, [.init(name: node, role: "server")], topExtra: "networks: [{name: net-101}]\n" + extra)
        cluster.components = try UpCluster.labComponents()
        try cluster.writeInventory()
        return cluster
    }

    static func parvester(_ arguments: [String], _ cluster: UpCluster) async throws -> LocalProcess.Output {
        try await LocalProcess.runAsync(LocalProcess.builtProduct("parvester").path,
                                        arguments + ["-i", cluster.inventoryPath, "--state-dir", cluster.stateDirectory])
    }

    /// A file of `mib` MiB of random bytes, and its sha256.
    static func randomImage(_ directory: URL, _ name: String, mib: Int) throws -> (path: String, sha256: String) {
        let path = directory.appendingPathComponent(name).path
        _ = try Lab.local(["sh", "-c", "head -c \(mib)M /dev/urandom > '\(path)'"])
        return (path, String(try Lab.local(["sha256sum", path]).prefix(64)))
    }

    static func probe(_ cluster: UpCluster, _ node: String) throws -> KubeProbe {
        try KubeProbe(kubeconfig: try String(contentsOfFile: cluster.stateDirectory + "/kubeconfig", encoding: .utf8), address: try Lab.node(node).address)
    }

    @Test func upFillsImagesStartsVMsAndTheVMCommandsDriveThem() async throws {
        let lab = try Lab.require(nodes: 28)
        let directory = URL(fileURLWithPath: Lab.directory).appendingPathComponent("up/images-input-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let image = try Self.randomImage(directory, "disk.qcow2", mib: 50)
        let passwordFile = directory.appendingPathComponent("password").path
        try "s3cret-vm-password\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let cluster = try await Self.cluster("images", on: "lab27", extra: """
            images:
              - {name: uploaded, size: 1Gi, source: {file: \(image.path)}}
              - {name: imported, size: 1Gi, source: {url: "\(lab.manifests_url)images/lab-disk.qcow2"}}
              - {name: empty, size: 2Gi, source: {blank: true}}
            vms:
              - name: vm1
                image: uploaded
                disks: [empty]
                networks: [net-101]
                cloudInit: {passwordFile: \(passwordFile)}
              - {name: idle, image: imported, running: false}
            """)
        let first = try await cluster.up(["--output", "json", "--wait-timeout", "90s"])
        #expect(first.status == 0, "\(first.stdout.suffix(2000))")
        #expect(first.outcomes.contains { $0.phase == "images" && $0.outcome == "changed" })
        #expect(first.outcomes.contains { $0.phase == "vms" && $0.outcome == "changed" })
        #expect(!first.stdout.contains("s3cret-vm-password") && !first.stderr.contains("s3cret-vm-password"))

        let probe = try Self.probe(cluster, "lab27")
        // CDI offered no URL (no Ingress, no override), so up exposed the proxy on the default NodePort
        // and uploaded through it.
        #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/cdiconfigs/config").value(["status", "uploadProxyURL"]) == nil)
        let service = try probe.request("GET", "/api/v1/namespaces/cdi/services/cdi-uploadproxy-nodeport")
        #expect(service.string("spec", "type") == "NodePort")
        #expect((service.value(["spec", "ports"]) as? [[String: Any]])?.first?["nodePort"] as? Int == 31001, "\(service.body)")
        // What arrived at the upload proxy is the file, byte for byte.
        let claim = try probe.request("GET", "/api/v1/namespaces/default/persistentvolumeclaims/uploaded")
        #expect(claim.string("metadata", "annotations", "lab.parvester.test/uploaded-sha256") == image.sha256)
        #expect(claim.string("metadata", "annotations", "lab.parvester.test/uploaded-bytes") == String(50 << 20))
        for name in ["uploaded", "imported", "empty"] {
            #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/\(name)").string("status", "phase") == "Succeeded", "\(name)")
        }
        let instance = try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1")
        #expect(instance.string("status", "phase") == "Running")
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/idle").status == 404)
        // The password is in the cloud-init Secret, not in the VirtualMachine.
        let vm = try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm1")
        #expect(!vm.body.contains("s3cret") && vm.body.contains("vm1-cloudinit"))
        #expect(try probe.request("GET", "/api/v1/namespaces/default/secrets/vm1-cloudinit").status == 200)

        let status = try await Self.parvester(["status"], cluster)
        for line in ["image     default/uploaded", "vm        default/vm1", "vm        default/idle"] {
            #expect(status.stdout.contains("✓ \(line)"), "\(line) ready in: \(status.stdout)")
        }
        let idle = status.stdout.split(separator: "\n").first { $0.contains("default/idle") }
        #expect(status.status == 0 && idle?.hasSuffix("Stopped") == true, "\(status.stdout)")

        // Again: nothing changes, nothing is uploaded.
        let second = try await cluster.up(["--output", "json", "--wait-timeout", "90s"])
        #expect(second.status == 0 && second.json["changed"] as? Int == 0, "\(second.outcomes.filter { $0.outcome == "changed" })")

        // vm list, stop, start, restart as KubeVirt does them.
        let list = try await Self.parvester(["vm", "list", "--output", "json"], cluster)
        let listed = ((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["items"] as? [[String: Any]]) ?? []
        #expect(listed.map { "\($0["name"]!) \($0["status"]!)" } == ["idle Stopped", "vm1 Running"], "\(list.stdout)")
        let stop = try await Self.parvester(["vm", "stop", "vm1"], cluster)
        #expect(stop.status == 0 && stop.stdout.contains("VM default/vm1 is stopped"), "\(stop.stdout)\(stop.stderr)")
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1").status == 404)
        let stopAgain = try await Self.parvester(["vm", "stop", "vm1"], cluster)
        #expect(stopAgain.status != 0 && stopAgain.stderr.contains("VM is not running"), "\(stopAgain.stderr)")
        let start = try await Self.parvester(["vm", "start", "vm1"], cluster)
        #expect(start.status == 0 && start.stdout.contains("VM default/vm1 is running"), "\(start.stdout)\(start.stderr)")
        let before = try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1").string("metadata", "uid")
        let restart = try await Self.parvester(["vm", "restart", "vm1"], cluster)
        #expect(restart.status == 0, "\(restart.stderr)")
        let after = try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1")
        #expect(after.string("status", "phase") == "Running" && after.string("metadata", "uid") != before, "a new instance")
        // image list names each image's users; an image a VM uses is not deleted.
        let images = try await Self.parvester(["image", "list"], cluster)
        let imported = images.stdout.split(separator: "\n").first { $0.hasPrefix("default/imported ") }
        #expect(images.status == 0 && imported?.hasSuffix("default/idle") == true, "\(images.stdout)")
        let refused = try await Self.parvester(["image", "delete", "imported", "--yes"], cluster)
        #expect(refused.status == 1 && refused.stderr.contains("used by default/idle"), "\(refused.stderr)")
        let unconfirmed = try await Self.parvester(["vm", "delete", "idle"], cluster)
        #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/idle").status == 200)

        // vm delete --with-disks: the VM, then its disk (no other VM uses it).
        let delete = try await Self.parvester(["vm", "delete", "idle", "--with-disks", "--yes"], cluster)
        #expect(delete.status == 0 && delete.stderr.contains("the next `up` creates it again"), "\(delete.stderr)")
        #expect(try probe.request("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/idle").status == 404)
        #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/imported").status == 404)
        #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/uploaded").status == 200, "vm1's disk stays")
        // Now unused, the blank image can go.
        let empty = try await Self.parvester(["image", "delete", "empty"], cluster)
        #expect(empty.status == 1, "vm1 uses empty as its extra disk: \(empty.stderr)")
    }

    @Test func uploadsRefuseBadTokensAndAnInterruptedOneCompletesOnARerun() async throws {
        _ = try Lab.require(nodes: 28)
        let cluster = try await Self.cluster("uploads", on: "lab28", extra: "")
        #expect(try await cluster.up(["--output", "json", "--wait-timeout", "90s"]).status == 0)
        let image = try Self.randomImage(cluster.directory, "disk.img", mib: 50)
        let probe = try Self.probe(cluster, "lab28")

        // This cluster has no way to the proxy yet (no image in its inventory, so no NodePort; no
        // Ingress, no override): the upload stops before creating anything, saying how to expose it.
        let unreachable = try await Self.parvester(["image", "upload", "disk", "--file", image.path, "--size", "1Gi"], cluster)
        #expect(unreachable.status == 1 && unreachable.stderr.contains("not reachable from outside the cluster")
                && unreachable.stderr.contains("uploadProxyNodePort"), "\(unreachable.stderr)")
        #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/disk").status == 404)

        // CDI's own override: CDIConfig then reports the URL, and uploads go there.
        let state = try Lab.require()
        let override = try probe.request("PATCH", "/apis/cdi.kubevirt.io/v1beta1/cdiconfigs/config",
                                         body: "{\"spec\":{\"uploadProxyURLOverride\":\"\(state.upload_proxy_url)\"}}",
                                         contentType: "application/merge-patch+json")
        #expect(override.status == 200, "\(override.body)")
        try await probe.wait(for: "CDIConfig reporting the override", "/apis/cdi.kubevirt.io/v1beta1/cdiconfigs/config") {
            $0.string("status", "uploadProxyURL") == state.upload_proxy_url
        }

        // A token the proxy does not know.
        let uploader = CDIUploadClient(proxyURL: state.upload_proxy_url,
                                       certificateAuthority: FileManager.default.contents(atPath: state.upload_proxy_ca))
        let forged = await #expect(throws: KubeError.self) { try await uploader.upload(file: image.path, token: "forged-token") }
        #expect(forged?.status == 401 && forged?.message.contains("refused the upload token") == true, "\(String(describing: forged))")

        // An expired one: tokens live 0 s for a while.
        try Lab.kubeFault("lab28", ["upload-token-ttl", "0"])
        let expired = try await Self.parvester(["image", "upload", "disk", "--file", image.path, "--size", "1Gi"], cluster)
        try Lab.kubeFault("lab28", ["clear"])
        #expect(expired.status == 1 && expired.stderr.contains("refused the upload token") && expired.stderr.contains("run again"), "\(expired.stderr)")
        #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/disk").string("status", "phase") == "UploadReady")

        // The connection drops after 20 MiB: the run fails naming the upload; the next completes it.
        try Lab.kubeFault("lab28", ["upload-drop", String(20 << 20)])
        let dropped = try await Self.parvester(["image", "upload", "disk", "--file", image.path], cluster)
        #expect(dropped.status == 1 && dropped.stderr.contains("uploading to"), "\(dropped.stderr)")
        #expect(try probe.request("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/disk").string("status", "phase") == "UploadReady")
        let rerun = try await Self.parvester(["image", "upload", "disk", "--file", image.path], cluster)
        #expect(rerun.status == 0 && rerun.stdout.contains("which has Succeeded"), "\(rerun.stdout)\(rerun.stderr)")
        let claim = try probe.request("GET", "/api/v1/namespaces/default/persistentvolumeclaims/disk")
        #expect(claim.string("metadata", "annotations", "lab.parvester.test/uploaded-sha256") == image.sha256)
        let again = try await Self.parvester(["image", "upload", "disk", "--file", image.path], cluster)
        #expect(again.status == 0 && again.stdout.contains("already Succeeded; nothing uploaded"))
    }
}
