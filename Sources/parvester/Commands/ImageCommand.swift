import ArgumentParser
import Foundation
import Kube
import ParvesterCore
import YAML

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "VM disk images (CDI DataVolumes).",
        subcommands: [ImageUploadCommand.self, ImageListCommand.self, ImageDeleteCommand.self])
}

/// `virtctl image-upload dv` without virtctl: the DataVolume is created (upload source, bound at once,
/// as the memo's `--force-bind`) unless it exists, then the file is streamed to CDI's upload proxy.
struct ImageUploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload a local disk image into a DataVolume through CDI's upload proxy.",
        discussion: """
            Creates the DataVolume NAME (source: upload) unless it exists, waits until CDI is ready for the \
            upload, streams --file to the upload proxy with a token from CDI, and waits until the DataVolume \
            has Succeeded. A DataVolume that already Succeeded is left alone. The proxy is --upload-proxy-url, \
            else the inventory's components.cdi.uploadProxyURL, else CDIConfig's status.uploadProxyURL (an \
            Ingress or CDI's uploadProxyURLOverride), else a NodePort Service in namespace cdi that selects the \
            proxy (`up` adds one for the inventory's images), reached at the API server's address.
            """)

    @Argument(help: "The DataVolume (and PVC) name.")
    var name: String

    @Option(name: .long, help: "The disk image to upload (qcow2, raw, or ISO).", completion: .file())
    var file: String

    @Option(name: .long, help: "The DataVolume's size, e.g. 10Gi (needed when it does not exist yet).")
    var size: String?

    @Option(name: [.short, .long], help: "The namespace.")
    var namespace: String = defaultNamespace

    @Option(name: .long, help: "The storage class.")
    var storageClass: String = Image.defaultStorageClass

    @Option(name: .long, help: "The access mode.")
    var accessMode: AccessMode = .readWriteOnce

    @Option(name: .long, help: "Where CDI's upload proxy is reached from here.")
    var uploadProxyURL: String?

    @Option(name: .long, help: "How long to wait for CDI (1s to 24h, e.g. 90s, 15m).", transform: DurationFlag.positive)
    var waitTimeout: DurationValue = .seconds(900)

    @OptionGroup var target: KubeTargetOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() async throws {
        let terminal = Terminal()
        if let p = KubernetesNames.labelProblem(name, what: "DataVolume name") { throw ValidationError(p) }
        guard FileManager.default.isReadableFile(atPath: file) else { throw ValidationError("cannot read --file \(file)") }
        let cluster = try target.connect(terminal: terminal)
        let uploader = DataVolumeUploader(client: cluster.client, proxyURL: uploadProxyURL ?? cluster.inventory?.uploadProxyURL,
                                          timeout: waitTimeout.seconds)
        let started = Date()
        let (phase, _) = try await uploader.phase(namespace: namespace, name: name)
        if phase == "Succeeded" {
            report(terminal, outcome: "unchanged", detail: "DataVolume \(namespace)/\(name) already Succeeded; nothing uploaded", started: started)
            return
        }
        // Where the proxy is, before anything is created: no way to reach it touches nothing.
        let proxy = try await uploader.proxy()
        if phase == nil {
            guard let size else { throw ValidationError("DataVolume \(namespace)/\(name) does not exist: give --size to create it") }
            if let p = KubernetesNames.quantityProblem(size, what: "size") { throw ValidationError(p) }
            let image = Image(name: name, namespace: namespace, size: size, storageClass: storageClass, accessMode: accessMode, source: .file(file))
            let node = try ClusterObjectRenderer.dataVolumeAlone(image)
            let results = await KubeApplier(client: cluster.client, discovery: cluster.discovery)
                .apply(try KubeObject.from(node, source: "image upload \(name)"))
            if let failed = results.first(where: { $0.outcome == .failed }) { throw ImageError("\(failed.object): \(failed.error ?? "failed")") }
        }
        let printer = outputOptions.output == .text ? RunPrinter(terminal: terminal, verbose: false, names: [name]) : nil
        try await uploader.upload(namespace: namespace, name: name, file: file, through: proxy) { sent, total in
            printer?.transfer(target: name, file: (file as NSString).lastPathComponent, sent: sent, total: total)
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
        report(terminal, outcome: "uploaded", detail: "\(ByteCount.text(bytes)) into DataVolume \(namespace)/\(name), which has Succeeded", started: started)
    }

    private func report(_ terminal: Terminal, outcome: String, detail: String, started: Date) {
        let seconds = Date().timeIntervalSince(started)
        switch outputOptions.output {
        case .json:
            struct Line: Encodable { var namespace: String; var name: String; var outcome: String; var seconds: Double }
            terminal.print((try? JSONOutput.encode(Line(namespace: namespace, name: name, outcome: outcome, seconds: seconds))) ?? "{}")
        case .text:
            if terminal.colourOut { terminal.print("\r\u{1B}[2K", terminator: "") }  // past the progress bar
            terminal.print(terminal.green("✓ ") + detail + String(format: " (%.1fs)", seconds))
        }
    }
}
