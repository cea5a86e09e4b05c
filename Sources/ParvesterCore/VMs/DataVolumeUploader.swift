import Foundation
import Kube

/// Fills an upload DataVolume from a local file, as `virtctl image-upload dv` does: wait until CDI
/// reports it `UploadReady`, ask CDI's API for an upload token (an `UploadTokenRequest`), stream the
/// file to the upload proxy with it, then wait for the DataVolume to be `Succeeded`. The token is a
/// credential: it is never printed or logged.
public struct DataVolumeUploader: Sendable {
    public let client: KubeHTTPClient
    /// From the inventory (`components.cdi.uploadProxyURL`) or `--upload-proxy-url`; nil: ask the cluster.
    public let proxyURL: String?
    public let timeout: TimeInterval

    public static let signerBundle = (namespace: "cdi", name: "cdi-uploadproxy-signer-bundle", key: "ca-bundle.crt")

    public init(client: KubeHTTPClient, proxyURL: String?, timeout: TimeInterval) {
        self.client = client
        self.proxyURL = proxyURL
        self.timeout = timeout
    }

    /// CDI's namespace and its upload proxy's Service, whose certificate names `cdi-uploadproxy.cdi.svc`.
    public static let proxyService = (namespace: "cdi", name: "cdi-uploadproxy", selector: "cdi.kubevirt.io", port: 8443)
    public static var proxyServiceHost: String { "\(proxyService.name).\(proxyService.namespace).svc" }

    /// The upload proxy, as `proxy()` finds it, or an error that says how to expose it.
    public func proxy() async throws -> CDIUploadClient {
        guard let found = try await locate() else {
            throw ImageError("CDI reports no upload proxy URL (CDIConfig config, status.uploadProxyURL) and no NodePort Service leads to cdi-uploadproxy: the upload proxy is not reachable from outside the cluster. Run `parvester up` with the image in the inventory (it adds a NodePort, components.cdi.uploadProxyNodePort), expose it yourself (an Ingress, or a NodePort Service in namespace cdi selecting cdi.kubevirt.io=cdi-uploadproxy), or pass its URL (components.cdi.uploadProxyURL, --upload-proxy-url)")
        }
        return found
    }

    /// Where this machine reaches the upload proxy, in order: the URL given; CDIConfig's
    /// `status.uploadProxyURL`, which CDI sets from `spec.uploadProxyURLOverride` or an Ingress (virtctl
    /// looks there too); a NodePort Service selecting the proxy, reached at the API server's host with the
    /// certificate checked for the service's name. The CA is CDI's upload proxy signer, published in a
    /// ConfigMap; absent, the system's CAs. Nil when nothing leads to the proxy.
    public func locate() async throws -> CDIUploadClient? {
        var url = proxyURL
        if url == nil { url = try await reportedURL() }
        var connectTo: (host: String, port: Int)?
        if url == nil {
            guard let nodePort = try await proxyNodePort(), let host = URLComponents(string: client.credentials.server)?.host else { return nil }
            url = "https://\(Self.proxyServiceHost):\(nodePort)"
            connectTo = (host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), nodePort)
        }
        let bundle = try await client.send("GET", "/api/v1/namespaces/\(Self.signerBundle.namespace)/configmaps/\(Self.signerBundle.name)")
        let ca = bundle.status == 200 ? ((bundle.json?["data"] as? [String: Any])?[Self.signerBundle.key] as? String).map { Data($0.utf8) } : nil
        let full = url!.contains("://") ? url! : "https://" + url!
        return CDIUploadClient(proxyURL: full, certificateAuthority: ca, connectTo: connectTo)
    }

    /// CDIConfig's `status.uploadProxyURL`: what CDI itself says its upload proxy is reached at.
    public func reportedURL() async throws -> String? {
        let config = try await client.send("GET", "/apis/cdi.kubevirt.io/v1beta1/cdiconfigs/config")
        guard config.status == 200, let url = (config.json?["status"] as? [String: Any])?["uploadProxyURL"] as? String else { return nil }
        return url.isEmpty ? nil : url
    }

    /// The node port of a NodePort (or LoadBalancer) Service in CDI's namespace that leads to the upload
    /// proxy: Parvester's own first, else any other.
    private func proxyNodePort() async throws -> Int? {
        let response = try await client.send("GET", "/api/v1/namespaces/\(Self.proxyService.namespace)/services")
        guard response.status == 200 else { return nil }
        let items = response.json?["items"] as? [[String: Any]] ?? []
        let isParvesters = { (service: [String: Any]) in
            (service["metadata"] as? [String: Any])?["name"] as? String == Self.nodePortServiceName
        }
        let services = items.filter(isParvesters) + items.filter { !isParvesters($0) }
        for service in services {
            let spec = service["spec"] as? [String: Any] ?? [:]
            guard ["NodePort", "LoadBalancer"].contains(spec["type"] as? String ?? ""),
                  (spec["selector"] as? [String: Any])?[Self.proxyService.selector] as? String == Self.proxyService.name else { continue }
            for port in spec["ports"] as? [[String: Any]] ?? [] {
                let target = (port["targetPort"] as? Int) ?? (port["port"] as? Int)
                if target == Self.proxyService.port, let nodePort = port["nodePort"] as? Int { return nodePort }
            }
        }
        return nil
    }

    /// The Service `up` adds (templates/cdi-uploadproxy-nodeport.yaml).
    public static let nodePortServiceName = "cdi-uploadproxy-nodeport"

    /// The DataVolume's phase (`UploadReady`, `Succeeded`, ...) and its status as shown to people.
    public func phase(namespace: String, name: String) async throws -> (phase: String?, shown: String) {
        let response = try await client.send("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/\(namespace)/datavolumes/\(name)")
        guard response.status == 200, let json = response.json else {
            if response.status == 404 { return (nil, "not found") }
            throw KubeError.status(response, doing: "reading DataVolume \(namespace)/\(name)")
        }
        let status = json["status"] as? [String: Any] ?? [:]
        let phase = status["phase"] as? String
        let conditions = status["conditions"] as? [[String: Any]] ?? []
        let message = conditions.compactMap { ($0["message"] as? String).flatMap { $0.isEmpty ? nil : $0 } }.first
        return (phase, "phase \(phase ?? "none"), progress \(status["progress"] as? String ?? "N/A")" + (message.map { ": \($0)" } ?? ""))
    }

    /// Waits for `wanted`; a timeout names the DataVolume and what it last showed.
    public func wait(namespace: String, name: String, for wanted: Set<String>, timeout: TimeInterval? = nil) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout ?? self.timeout)
        while true {
            let (phase, shown) = try await self.phase(namespace: namespace, name: name)
            if let phase, wanted.contains(phase) { return phase }
            if phase == "Failed" { throw ImageError("DataVolume \(namespace)/\(name) failed: \(shown)") }
            guard Date() < deadline else {
                throw ImageError("timed out after \(Int(timeout ?? self.timeout)) s waiting for DataVolume \(namespace)/\(name) to be \(wanted.sorted().joined(separator: " or ")); last seen: \(shown)")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Uploads `file` into the upload DataVolume `namespace/name`, which must exist already.
    /// `proxy`: the upload proxy found already (by `proxy()`); nil finds it.
    public func upload(namespace: String, name: String, file: String, through proxy: CDIUploadClient? = nil,
                       progress: CDIUploadClient.Progress? = nil) async throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw ImageError("cannot read \(file)") }
        let (client, token) = try await prepare(namespace: namespace, name: name, through: proxy)
        try await client.upload(file: file, token: token, progress: progress)
        _ = try await wait(namespace: namespace, name: name, for: ["Succeeded"])
    }

    /// Everything before the transfer: the DataVolume ready for it, the proxy found, a token issued.
    public func prepare(namespace: String, name: String, through proxy: CDIUploadClient? = nil) async throws -> (client: CDIUploadClient, token: String) {
        _ = try await wait(namespace: namespace, name: name, for: ["UploadReady"])
        let found: CDIUploadClient
        if let proxy { found = proxy } else { found = try await self.proxy() }
        return (found, try await uploadToken(namespace: namespace, name: name))
    }

    private func uploadToken(namespace: String, name: String) async throws -> String {
        let request: [String: Any] = [
            "apiVersion": "upload.cdi.kubevirt.io/v1beta1", "kind": "UploadTokenRequest",
            "metadata": ["name": name, "namespace": namespace], "spec": ["pvcName": name],
        ]
        let response = try await client.send("POST", "/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/\(namespace)/uploadtokenrequests",
                                             body: try JSONSerialization.data(withJSONObject: request))
        guard (200..<300).contains(response.status) else {
            throw KubeError.status(response, doing: "asking CDI for an upload token for \(namespace)/\(name)")
        }
        guard let token = (response.json?["status"] as? [String: Any])?["token"] as? String, !token.isEmpty else {
            throw ImageError("CDI answered the UploadTokenRequest for \(namespace)/\(name) without a token")
        }
        return token
    }
}

public struct ImageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
