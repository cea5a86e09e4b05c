import Foundation
import Kube
import Testing
import TestSupport
import YAML

/// Parvester's Kubernetes client where it met the real kube-apiserver and broke: against the lab's
/// API double run on its own, which answers as the recordings in ../shared/kube-conformance show.
@Suite("Kubernetes client against the API double", .serialized)
struct KubeClientTests {
    let double: APIDoubleProcess
    let client: KubeHTTPClient

    init() throws {
        double = try APIDoubleProcess()
        client = try KubeHTTPClient(credentials: KubeCredentials(server: double.url, certificateAuthority: nil, clientCertificate: nil,
                                                                 clientKey: nil, token: nil))
    }

    private func applier(force: Bool = true, dryRun: Bool = false, client: KubeHTTPClient? = nil) -> KubeApplier {
        let client = client ?? self.client
        var applier = KubeApplier(client: client, discovery: KubeDiscovery(client: client))
        applier.force = force
        applier.dryRun = dryRun
        applier.establishTimeout = 30
        return applier
    }

    private func objects(_ text: String) throws -> [KubeObject] { try KubeObject.parse(text, source: "test.yaml") }

    private func outcomes(_ results: [ApplyResult]) -> [String] {
        results.map { "\($0.outcome.rawValue) \($0.object)" + ($0.error.map { ": \($0)" } ?? "") }
    }

    private func count(_ key: String) throws -> Int {
        if key.contains(" ") { return (try double.requests()["paths"] as? [String: Int])?[key] ?? 0 }
        return try double.requests()[key] as? Int ?? 0
    }

    @Test func octalModesReachTheServerAsKubernetesReadsThem() async throws {
        let results = await applier().apply(try objects("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: octal, namespace: default}
            spec:
              selector: {matchLabels: {app: octal}}
              template:
                metadata: {labels: {app: octal}}
                spec:
                  containers: [{name: c, image: pause}]
                  volumes: [{name: s, secret: {secretName: s, defaultMode: 0644}}]
            """))
        #expect(outcomes(results) == ["created Deployment default/octal"])
        let stored = try #require(try await client.send("GET", "/apis/apps/v1/namespaces/default/deployments/octal").json)
        let volumes = ((stored["spec"] as? [String: Any])?["template"] as? [String: Any]).flatMap { ($0["spec"] as? [String: Any])?["volumes"] as? [[String: Any]] }
        #expect((volumes?.first?["secret"] as? [String: Any])?["defaultMode"] as? Int == 420)
    }

    @Test func aDeterministicErrorIsSentOnce() async throws {
        let crd = """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.strict.example.com}
            spec:
              group: strict.example.com
              scope: Namespaced
              names: {plural: widgets, singular: widget, kind: Widget}
              versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      spec: {type: object, properties: {size: {type: integer}}}
            """
        #expect(outcomes(await applier().apply(try objects(crd))) == ["created CustomResourceDefinition widgets.strict.example.com"])
        try double.resetRequests()
        let results = await applier().apply(try objects("""
            apiVersion: strict.example.com/v1
            kind: Widget
            metadata: {name: w1, namespace: default}
            spec: {size: 3, colour: blue}
            """))
        #expect(results.first?.outcome == .failed)
        #expect(results.first?.error?.contains("field not declared in schema") == true, "\(outcomes(results))")
        #expect(try count("PATCH") == 1, "the server's 500 for an undeclared field is the same every time")
    }

    @Test func onlyWhatHealsIsRetried() async throws {
        // 503 to a write, without Retry-After: the answer stands.
        try double.fault(["mode": "status", "code": 503, "count": 3])
        let put = try await client.send("PUT", "/api/v1/namespaces/default/configmaps/none", body: Data("{}".utf8))
        #expect(put.status == 503)
        try double.fault(["mode": "clear"])
        try double.resetRequests()
        // 503 to a read: a gateway or a starting server heals.
        try double.fault(["mode": "status", "code": 503, "count": 2])
        #expect(try await client.send("GET", "/api/v1/namespaces/default").status == 200)
        #expect(try count("GET") == 3)
        // 429 with Retry-After, to a write: the server asked to be asked again.
        try double.resetRequests()
        try double.fault(["mode": "status", "code": 429, "count": 1, "retryAfter": 1])
        let applied = await applier().apply(try objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-429, namespace: default}\n"))
        #expect(outcomes(applied) == ["created ConfigMap default/after-429"])
        // 500 without Retry-After, to a read: deterministic.
        try double.resetRequests()
        try double.fault(["mode": "status", "code": 500, "count": 3])
        #expect(try await client.send("GET", "/api/v1/namespaces/default").status == 500)
        #expect(try count("GET") == 1)
        try double.fault(["mode": "clear"])
    }

    @Test func aDeadServerFailsAfterOneObjectsRetries() async throws {
        let sink = try ClosingListener()
        let dead = try KubeHTTPClient(credentials: KubeCredentials(server: "http://127.0.0.1:\(sink.port)", certificateAuthority: nil,
                                                                   clientCertificate: nil, clientKey: nil, token: nil))
        let manifest = (0..<200).map { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm\($0), namespace: default}\n" }.joined(separator: "---\n")
        let results = await applier(client: dead).apply(try objects(manifest))
        #expect(results.count == 200 && results.allSatisfy { $0.outcome == .failed })
        // Before: each of the 200 objects was tried 6 times (1200+ connections, 120 s).
        #expect(sink.connections < 300, "\(sink.connections) connections for 200 objects")
    }

    @Test func parallelWorkersShareOneDiscovery() async throws {
        try double.resetRequests()
        var docs = (0..<5).map { "apiVersion: v1\nkind: Namespace\nmetadata: {name: share-\($0)}\n" }
        docs += (0..<100).map { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm\($0), namespace: share-\($0 % 5)}\ndata: {i: \"\($0)\"}\n" }
        let results = await applier().apply(try objects(docs.joined(separator: "---\n")))
        #expect(results.allSatisfy { $0.outcome == .created }, "\(outcomes(results).prefix(3))")
        #expect(try count("GET /api") == 1 && count("GET /apis") == 1)
    }

    @Test func objectsOfAMissingKindCostOneReloadNotOneEach() async throws {
        let applier = applier()
        _ = await applier.apply(try objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: warm, namespace: default}\n"))
        try double.resetRequests()
        let manifest = (0..<50).map { "apiVersion: nowhere.example.com/v1\nkind: Ghost\nmetadata: {name: g\($0), namespace: default}\n" }
        let results = await applier.apply(try objects(manifest.joined(separator: "---\n")))
        #expect(results.count == 50 && results.allSatisfy { $0.error?.contains("has no kind Ghost") == true }, "\(outcomes(results).prefix(2))")
        let loads = try count("GET /apis")
        #expect(loads <= 2, "discovery loaded \(loads) times for one missing kind")
    }

    @Test func aNoOpApplySendsAboutOneRequestPerObject() async throws {
        var docs = (0..<5).map { "apiVersion: v1\nkind: Namespace\nmetadata: {name: noop-\($0)}\n" }
        docs += (0..<195).map { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm\($0), namespace: noop-\($0 % 5)}\ndata: {i: \"\($0)\"}\n" }
        let manifest = try objects(docs.joined(separator: "---\n"))
        #expect(await applier().apply(manifest).allSatisfy { $0.outcome == .created })
        try double.resetRequests()
        let again = await applier().apply(manifest)
        #expect(again.allSatisfy { $0.outcome == .unchanged }, "\(outcomes(again).filter { !$0.hasPrefix("unchanged") }.prefix(5))")
        let total = try count("total")
        #expect(Double(total) / 200 <= 1.1, "\(total) requests for 200 objects")
    }

    @Test func unchangedMeansTheContentDidNotChange() async throws {
        let namespace = try objects("apiVersion: v1\nkind: Namespace\nmetadata: {name: bare}\n")
        #expect(outcomes(await applier().apply(namespace)) == ["created Namespace bare"])
        #expect(outcomes(await applier().apply(namespace)) == ["unchanged Namespace bare"], "before-first-apply is not a change")
        let shared = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: bare}\ndata: {k: v}\n"
        var other = applier()
        other.fieldManager = "someone-else"
        #expect(outcomes(await other.apply(try objects(shared))) == ["created ConfigMap bare/shared"])
        #expect(outcomes(await applier().apply(try objects(shared))) == ["unchanged ConfigMap bare/shared"], "co-owning a field changes nothing")
        let changed = shared.replacingOccurrences(of: "{k: v}", with: "{k: v, j: w}")
        #expect(outcomes(await applier().apply(try objects(changed))) == ["configured ConfigMap bare/shared"])
    }

    @Test func aConflictNamesTheOwnerAndTheWayOut() async throws {
        var other = applier()
        other.fieldManager = "helm"
        _ = await other.apply(try objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned, namespace: default}\ndata: {k: theirs}\n"))
        let refused = await applier(force: false).apply(try objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {k: mine}\n"))
        let error = try #require(refused.first?.error)
        #expect(refused.first?.object == "ConfigMap default/owned", "named with its namespace")
        #expect(error.contains(".data.k is owned by helm") && error.contains("--force-conflicts"), "\(error)")
        #expect(await applier(force: true).apply(try objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {k: mine}\n")).first?.outcome == .configured)
    }

    @Test func aCRDWhoseNamesAreRefusedFailsAtOnceAndCountsOnce() async throws {
        func crd(_ plural: String, listKind: String) -> String {
            """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: \(plural).names.example.com}
            spec:
              group: names.example.com
              scope: Namespaced
              names: {plural: \(plural), singular: \(plural.dropLast()), kind: \(plural.capitalized.dropLast()), listKind: \(listKind)}
              versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
            """
        }
        #expect(await applier().apply(try objects(crd("gizmos", listKind: "GizmoList"))).first?.outcome == .created)
        let started = Date()
        let results = await applier().apply(try objects(crd("gadgets", listKind: "GizmoList")))
        #expect(results.count == 1)
        #expect(results.first?.error?.contains("ListKindConflict") == true, "\(outcomes(results))")
        #expect(Date().timeIntervalSince(started) < 25, "not after the Established timeout")
    }

    @Test func messagesNameWhatIsMissing() async throws {
        _ = try await client.send("GET", "/version")
        let agents = try #require(try double.requests()["userAgents"] as? [String: Int])
        #expect(agents.keys.contains("parvester/\(ParvesterVersion.current)"), "\(agents)")

        let missing = try await client.send("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/vm1/start")
        #expect(missing.status == 404 && missing.contentType.hasPrefix("text/plain"))
        let message = KubeError.status(missing, doing: "starting vm1").message
        #expect(message.contains("the KubeVirt subresource API (virt-api) is not available"), "\(message)")

        let web = try KubeHTTPClient(credentials: KubeCredentials(server: double.url + "/_lab/html", certificateAuthority: nil,
                                                                  clientCertificate: nil, clientKey: nil, token: nil))
        let page = KubeError.status(try await web.send("GET", "/api"), doing: "reading /api").message
        #expect(page.contains("HTML page") && !page.contains("<html"), "\(page)")

        let dry = await applier(dryRun: true).apply(try objects("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: not-yet}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: c, namespace: not-yet}
            """))
        #expect(dry.last?.error?.contains("dry run's limit") == true, "\(outcomes(dry))")
    }
}

/// A TCP listener that accepts connections and closes them at once, counting them: a server that is
/// there but never answers.
final class ClosingListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let counter = Counter()
    var connections: Int { counter.value }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 1024) == 0 else { throw APIDoubleError("cannot listen on loopback") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let counter = counter
        Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                counter.add()
                close(client)
            }
        }.start()
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        var value: Int { lock.withLock { count } }
        func add() { lock.withLock { count += 1 } }
    }
}
