import Foundation
import Kube

/// The inventory's images as CDI DataVolumes: applied by server-side apply, then filled. `http` and
/// `blank` sources are CDI's own work, waited for; a local `file` is uploaded through CDI's upload proxy
/// unless the DataVolume already succeeded (a re-run uploads nothing). When CDI offers no URL for its
/// upload proxy and the inventory gives none, the proxy is exposed on a NodePort first.
struct ImagesPhase: RenderedObjectsPhase {
    let id = "images"
    let title = "Images (DataVolumes; uploads through CDI's upload proxy)"
    func targets(_ context: RunContext) -> [String] { context.inventory.images.map { "\($0.namespace)/\($0.name)" } }
    func note(_ context: RunContext) -> String? { "wait until Succeeded" }

    func objects(_ context: RunContext) throws -> [KubeObject] {
        let renderer = ClusterObjectRenderer(inventory: context.inventory)
        return try context.inventory.images.map { image -> KubeObject in
            context.owned(try KubeObject.from(try renderer.dataVolume(image), source: "image \(image.namespace)/\(image.name)")[0])
        }
    }

    func run(_ context: RunContext) async throws {
        let images = context.inventory.images
        try await context.clusterStep(id) {
            let (kube, _) = try context.clusterClient()
            let renderer = ClusterObjectRenderer(inventory: context.inventory)
            var changes = try await context.applyRendered(try objects(context))
            let uploader = DataVolumeUploader(client: kube, proxyURL: context.inventory.uploadProxyURL, timeout: context.options.waitTimeout)
            let uploads = images.contains { if case .file = $0.source { true } else { false } }
            if uploads, context.inventory.uploadProxyURL == nil, try await uploader.reportedURL() == nil {
                let service = try KubeObject.from(try renderer.uploadProxyService(), source: "upload proxy NodePort")[0]
                changes += try await context.applyRendered([service])
            }
            var proxy: CDIUploadClient?  // found once, for every upload
            for image in images {
                guard case .file(let path) = image.source else { continue }
                if try await uploader.phase(namespace: image.namespace, name: image.name).phase == "Succeeded" { continue }
                if proxy == nil { proxy = try await uploader.proxy() }
                context.report.command(target: "cluster", "upload \(path) to DataVolume \(image.namespace)/\(image.name) through \(proxy!.shown)")
                let report = context.report
                try await uploader.upload(namespace: image.namespace, name: image.name, file: path, through: proxy) { sent, total in
                    report.transfer(target: "cluster", file: image.name, sent: sent, total: total)
                }
                changes.append("\(image.name) uploaded")
            }
            // CDI imports and blanks in parallel, each with its own timeout.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for image in images {
                    group.addTask { _ = try await uploader.wait(namespace: image.namespace, name: image.name, for: ["Succeeded"]) }
                }
                try await group.waitForAll()
            }
            return changes.isEmpty ? .unchanged : .changed(changes.joined(separator: ", "))
        }
    }
}
