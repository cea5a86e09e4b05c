import Foundation
import SSH
import TestSupport
import Testing

/// One server (and one agent) started once and shared by the tests that only add objects of their
/// own names: lab21 (server) and lab24 (agent).
actor SharedLabCluster {
    static let shared = SharedLabCluster()
    private var started: Task<KubeProbe, Error>?

    func probe() async throws -> KubeProbe {
        if started == nil {
            started = Task {
                let probe = try await KubeProbe.startServer(on: "lab21")
                let agent = try await Lab.freshRKE2("lab24")
                defer { Task { await agent.close() } }
                try await Lab.write(agent, "server: https://\(probe.address):9345\ntoken: probe-token\n", to: "/etc/rancher/rke2/config.yaml")
                let joined = try await agent.run("systemctl enable --now rke2-agent", timeout: 60)
                try #require(joined.succeeded, "rke2-agent on lab24: \(joined.stderrText)")
                return probe
            }
        }
        return try await started!.value
    }
}

/// The lab's Kubernetes API double answers like a real API server where Parvester depends on it.
/// Nodes lab21-lab24 only.
@Suite("Kubernetes API double", .enabled(if: !Lab.skipped, Lab.skipReason))
struct KubeAPIDoubleTests {
    @Test func nodesRegisterWithTheirRolesAndTurnReady() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        let server = try await probe.wait(for: "node lab21 Ready", "/api/v1/nodes/lab21") { KubeProbe.hasCondition($0, "Ready") }
        #expect(server.value(["metadata", "labels", "node-role.kubernetes.io/control-plane"]) as? String == "true")
        let addresses = server.value(["status", "addresses"]) as? [[String: String]] ?? []
        #expect(addresses.contains(["type": "InternalIP", "address": try Lab.node("lab21").address]))
        let agent = try await probe.wait(for: "node lab24 Ready", "/api/v1/nodes/lab24") { KubeProbe.hasCondition($0, "Ready") }
        #expect(agent.value(["metadata", "labels", "node-role.kubernetes.io/control-plane"]) == nil)
        let selected = try probe.request("GET", "/api/v1/nodes?labelSelector=node-role.kubernetes.io/control-plane%3Dtrue")
        #expect((selected.value(["items"]) as? [[String: Any]])?.count == 1)
    }

    @Test func aRequestWithoutAClientCertificateGets401() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        let answer = try probe.request("GET", "/api/v1/namespaces", clientCertificate: false)
        #expect(answer.status == 401)
        #expect(answer.string("reason") == "Unauthorized")
        #expect(answer.string("kind") == "Status")
    }

    @Test func discoveryListsResourcesPerGroupAndAggregated() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        #expect(try probe.request("GET", "/api").value(["versions"]) as? [String] == ["v1"])
        let core = try probe.request("GET", "/api/v1").value(["resources"]) as? [[String: Any]] ?? []
        let namespaces = core.first { $0["name"] as? String == "namespaces" }
        #expect(namespaces?["namespaced"] as? Bool == false)
        #expect(core.first { $0["name"] as? String == "configmaps" }?["namespaced"] as? Bool == true)
        let groups = (try probe.request("GET", "/apis").value(["groups"]) as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(groups.contains("apps") && groups.contains("rbac.authorization.k8s.io") && groups.contains("apiextensions.k8s.io"))
        let apps = try probe.request("GET", "/apis/apps/v1").value(["resources"]) as? [[String: Any]] ?? []
        let deployments = apps.first { $0["name"] as? String == "deployments" }
        #expect(deployments?["kind"] as? String == "Deployment")
        let verbs = deployments?["verbs"] as? [String] ?? []
        #expect(verbs.contains("patch"))
        #expect(apps.contains { $0["name"] as? String == "deployments/status" })

        let aggregated = try probe.request("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
        #expect(aggregated.contentType == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        // kube-apiserver v1.36 serves aggregated discovery as v2 only: v2beta1 falls back to the plain list, or 406 alone
        let beta = try probe.request("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
        #expect(beta.string("kind") == "APIGroupList")
        #expect(try probe.request("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList").status == 406)
        let items = aggregated.value(["items"]) as? [[String: Any]] ?? []
        #expect(items.contains { ($0["metadata"] as? [String: Any])?["name"] as? String == "apps" })
        #expect(try probe.request("GET", "/apis/nothing.example/v1").status == 404)
    }

    @Test func serverSideApplyRoundTripsAndReportsConflicts() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        let path = "/api/v1/namespaces/default/configmaps/ssa-probe"
        let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-probe\ndata:\n  a: \"1\"\n  b: \"2\"\n"
        let created = try probe.apply(path, config)
        #expect(created.status == 201)
        let version = try #require(created.string("metadata", "resourceVersion"))
        let fields = created.value(["metadata", "managedFields"]) as? [[String: Any]] ?? []
        #expect(fields.first?["manager"] as? String == "parvester" && fields.first?["operation"] as? String == "Apply")

        let again = try probe.apply(path, config)
        #expect(again.status == 200)
        #expect(again.string("metadata", "resourceVersion") == version, "a no-op apply keeps the resourceVersion")

        let edited = try probe.request("PATCH", path + "?fieldManager=editor", body: #"{"data":{"a":"edited"}}"#,
                                       contentType: "application/merge-patch+json")
        #expect(edited.status == 200)
        let conflict = try probe.apply(path, config)
        #expect(conflict.status == 409)
        #expect(conflict.string("reason") == "Conflict")
        #expect(conflict.string("message")?.contains(#"conflict with "editor""#) == true)
        let causes = conflict.value(["details", "causes"]) as? [[String: Any]] ?? []
        #expect(causes.first?["reason"] as? String == "FieldManagerConflict" && causes.first?["field"] as? String == ".data.a")

        let forced = try probe.apply(path, config, force: true)
        #expect(forced.status == 200)
        #expect(forced.string("data", "a") == "1")
        let managers = (forced.value(["metadata", "managedFields"]) as? [[String: Any]] ?? []).compactMap { $0["manager"] as? String }
        #expect(managers == ["parvester"], "forcing took .data.a from editor, which then owns nothing")

        let dropped = try probe.apply(path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-probe\ndata:\n  a: \"1\"\n")
        #expect(dropped.value(["data"]) as? [String: String] == ["a": "1"], "a field the manager no longer applies is removed")

        // generation counts spec changes only.
        let deployment = { (image: String) in """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: ssa-probe, namespace: default, labels: {app: ssa-probe}}
            spec:
              selector: {matchLabels: {app: ssa-probe}}
              template:
                metadata: {labels: {app: ssa-probe}}
                spec: {containers: [{name: main, image: \(image)}]}
            """ }
        let deploymentPath = "/apis/apps/v1/namespaces/default/deployments/ssa-probe"
        let first = try probe.apply(deploymentPath, deployment("lab/a:1"))
        #expect(first.status == 201 && first.value(["metadata", "generation"]) as? Int == 1)
        #expect(try probe.apply(deploymentPath, deployment("lab/a:2")).value(["metadata", "generation"]) as? Int == 2)
        #expect(try probe.apply(deploymentPath, deployment("lab/a:2")).value(["metadata", "generation"]) as? Int == 2)
    }

    @Test func errorsComeAsStatusBodiesWithTheRealCodes() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        let missing = try probe.request("GET", "/api/v1/namespaces/default/configmaps/no-such-thing")
        #expect(missing.status == 404 && missing.string("reason") == "NotFound")
        #expect(missing.string("message") == #"configmaps "no-such-thing" not found"#)

        let object = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"errors-probe"}}"#
        #expect(try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: object).status == 201)
        let duplicate = try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: object)
        #expect(duplicate.status == 409 && duplicate.string("reason") == "AlreadyExists")

        let nameless = try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#)
        #expect(nameless.status == 422 && nameless.string("reason") == "Invalid")
        let wrongKind = try probe.request("POST", "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#)
        #expect(wrongKind.status == 422 && wrongKind.string("message")?.contains("must be ConfigMap") == true)

        let stale = try probe.request("PUT", "/api/v1/namespaces/default/configmaps/errors-probe",
                                      body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"errors-probe","resourceVersion":"1"}}"#)
        #expect(stale.status == 409 && stale.string("reason") == "Conflict")
        let unsupported = try probe.request("PATCH", "/api/v1/namespaces/default/configmaps/errors-probe", body: "{}", contentType: "text/plain")
        #expect(unsupported.status == 415 && unsupported.string("reason") == "UnsupportedMediaType")
        let noNamespace = try probe.apply("/api/v1/namespaces/not-created/configmaps/x", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        #expect(noNamespace.status == 404 && noNamespace.string("message") == #"namespaces "not-created" not found"#)
        let badSelector = try probe.apply("/apis/apps/v1/namespaces/default/deployments/bad-selector", """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: bad-selector}
            spec:
              selector: {matchLabels: {app: one}}
              template: {metadata: {labels: {app: other}}, spec: {containers: [{name: c, image: i}]}}
            """)
        #expect(badSelector.status == 422)
        #expect((badSelector.value(["details", "causes"]) as? [[String: Any]])?.first?["field"] as? String == "spec.template.metadata.labels")
        #expect(try probe.request("DELETE", "/api/v1/namespaces/default/configmaps/errors-probe").string("status") == "Success")
        #expect(try probe.request("GET", "/api/v1/namespaces/default/configmaps/errors-probe").status == 404)
    }

    @Test func aCRDBecomesEstablishedAndThenItsKindIsUsable() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        let widgets = "/apis/probe.parvester.test/v1/namespaces/default/widgets"
        let widget = #"{"apiVersion":"probe.parvester.test/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":3}}"#
        #expect(try probe.request("POST", widgets, body: widget).status == 404, "no such kind before its CRD")
        let crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.probe.parvester.test"
        let crd = try probe.apply(crdPath, """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.probe.parvester.test}
            spec:
              group: probe.parvester.test
              scope: Namespaced
              names: {plural: widgets, singular: widget, kind: Widget}
              versions:
              - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
            """)
        #expect(crd.status == 201)
        // Right after the CRD: refused unless it already became Established (which takes the double a second).
        let early = try probe.request("POST", widgets, body: widget)
        if early.status != 404 {
            #expect(KubeProbe.hasCondition(try probe.request("GET", crdPath), "Established"), "a kind was usable before its CRD was Established")
        }
        try await probe.wait(for: "CRD Established", crdPath) { KubeProbe.hasCondition($0, "Established") }
        let created = early.status == 201 ? early : try probe.request("POST", widgets, body: widget)
        #expect(created.status == 201)
        let resources = try probe.request("GET", "/apis/probe.parvester.test/v1").value(["resources"]) as? [[String: Any]] ?? []
        #expect(resources.contains { $0["name"] as? String == "widgets" && $0["kind"] as? String == "Widget" })
    }

    @Test func faultSwitchesAnswer503DropAndStall() async throws {
        let probe = try await KubeProbe.startServer(on: "lab22")
        try Lab.kubeFault("lab22", ["status", "503", "2"])
        let statuses = try (0..<3).map { _ in try probe.request("GET", "/api/v1/namespaces").status }
        #expect(statuses == [503, 503, 200])
        try Lab.kubeFault("lab22", ["drop", "1"])
        #expect(try probe.request("GET", "/api/v1/namespaces").curlStatus == 52, "curl: empty reply from server")
        #expect(try probe.request("GET", "/api/v1/namespaces").status == 200)
        try Lab.kubeFault("lab22", ["slow", "2", "1"])
        let started = Date()
        #expect(try probe.request("GET", "/api/v1/namespaces").status == 200)
        #expect(Date().timeIntervalSince(started) >= 2)
        try Lab.kubeFault("lab22", ["legacy-discovery"])
        let legacy = try probe.request("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
        #expect(legacy.string("kind") == "APIGroupList", "a server without aggregated discovery answers the plain list")
        try Lab.kubeFault("lab22", ["clear"])
    }

    @Test func nodePortsAreAllocatedAndCheckedAsTheAPIServerDoes() async throws {
        let probe = try await SharedLabCluster.shared.probe()
        func service(_ name: String, nodePort: Int?) throws -> KubeProbe.Answer {
            try probe.apply("/api/v1/namespaces/default/services/\(name)", """
                apiVersion: v1
                kind: Service
                metadata: {name: \(name), namespace: default}
                spec:
                  type: NodePort
                  selector: {app: \(name)}
                  ports: [{port: 443, targetPort: 8443\(nodePort.map { ", nodePort: \($0)" } ?? "")}]
                """)
        }
        let allocated = try service("np-auto", nodePort: nil)
        let port = (allocated.value(["spec", "ports"]) as? [[String: Any]])?.first?["nodePort"] as? Int
        #expect(allocated.status == 201 && port.map { (30000...32767).contains($0) } == true, "\(allocated.body)")
        #expect((try service("np-auto", nodePort: nil).value(["spec", "ports"]) as? [[String: Any]])?.first?["nodePort"] as? Int == port,
                "a re-apply keeps the allocated port")
        let outside = try service("np-low", nodePort: 8443)
        #expect(outside.status == 422 && outside.string("message")?.contains("provided port is not in the valid range") == true, "\(outside.body)")
        let clash = try service("np-clash", nodePort: port)
        #expect(clash.status == 422 && clash.string("message")?.contains("provided port is already allocated") == true, "\(clash.body)")
    }

    /// Every node's RKE2 double forwards to one socket. A burst of connections must queue there, as
    /// they would at a real API server, not be refused (which the doubles turned into 503s).
    @Test func aBurstOfConnectionsIsQueuedNotRefused() throws {
        let path = try Lab.require().kube_socket
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8.prefix(buffer.count - 1))
        }
        var sockets: [Int32] = []
        defer { sockets.forEach { _ = close($0) } }
        var refused = 0
        for _ in 0..<300 {
            // Non-blocking, as a client with a connect timeout is: a full backlog answers EAGAIN at once.
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            try #require(fd >= 0)
            sockets.append(fd)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if connected != 0 { refused += 1 }
        }
        #expect(refused == 0, "\(refused) of 300 connections refused")
    }
}
