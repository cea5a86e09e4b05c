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

    /// The proxy's URL and the CA to verify it with. Without one given, CDIConfig's
    /// `status.uploadProxyURL` (CDI sets it from `spec.uploadProxyURLOverride` or an Ingress), as virtctl
    /// finds it. The CA is CDI's upload proxy signer, published in a ConfigMap; absent, the system's CAs.
    public func proxy() async throws -> (url: String, certificateAuthority: Data?) {
        var url = proxyURL
        if url == nil {
            let config = try await client.send("GET", "/apis/cdi.kubevirt.io/v1beta1/cdiconfigs/config")
            if config.status == 200 { url = (config.json?["status"] as? [String: Any])?["uploadProxyURL"] as? String }
            guard let found = url, !found.isEmpty else {
                throw ImageError("CDI reports no upload proxy URL (CDIConfig config, status.uploadProxyURL): the cdi-uploadproxy service is not reachable from outside the cluster. Expose it (an Ingress, or a NodePort Service for cdi-uploadproxy) and set components.cdi.uploadProxyURL, or CDIConfig's spec.uploadProxyURLOverride")
            }
        }
        let bundle = try await client.send("GET", "/api/v1/namespaces/\(Self.signerBundle.namespace)/configmaps/\(Self.signerBundle.name)")
        let ca = bundle.status == 200 ? ((bundle.json?["data"] as? [String: Any])?[Self.signerBundle.key] as? String).map { Data($0.utf8) } : nil
        let full = url!.contains("://") ? url! : "https://" + url!
        return (full, ca)
    }

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
    public func upload(namespace: String, name: String, file: String, progress: CDIUploadClient.Progress? = nil) async throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw ImageError("cannot read \(file)") }
        let (client, token) = try await prepare(namespace: namespace, name: name)
        try await client.upload(file: file, token: token, progress: progress)
        _ = try await wait(namespace: namespace, name: name, for: ["Succeeded"])
    }

    /// Everything before the transfer: the DataVolume ready for it, the proxy found, a token issued.
    public func prepare(namespace: String, name: String) async throws -> (client: CDIUploadClient, token: String) {
        _ = try await wait(namespace: namespace, name: name, for: ["UploadReady"])
        let (url, ca) = try await proxy()
        return (CDIUploadClient(proxyURL: url, certificateAuthority: ca), try await uploadToken(namespace: namespace, name: name))
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
