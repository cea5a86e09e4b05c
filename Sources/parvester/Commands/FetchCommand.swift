import ArgumentParser
import Foundation
import ParvesterCore

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download everything `up` needs from the internet, for runs without it (`up --offline`).",
        discussion: """
            Fetches the release manifests of every enabled component into the manifest cache, checking \
            the inventory's sha256 pins, and, for an airgap install, RKE2's artifacts for cluster.version \
            into the cache (one directory per version) and from there into cluster.install.artifactsDir, each \
            archive checked against the release's sha256sum file. \
            components.mirror applies to all of it. What is already there and right is left alone.

            With --offline nothing is downloaded: it checks that the cache and the artifacts directory hold \
            everything an offline `up` needs, and exits 1 naming what is missing.
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions

    @Flag(name: .long, help: "Download nothing; check that everything is already cached.")
    var offline = false

    struct Line: Encodable {
        var kind: String
        var component: String?
        var file: FetchedFile
    }

    struct Report: Encodable {
        var ok: Bool
        var cache: String
        var artifactsDir: String?
        var files: [Line]
        var error: String?
    }

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let cache = ManifestCache.default()
        var artifactsDir: String?
        if case .airgap(let directory) = inventory.cluster.install { artifactsDir = directory }
        var report = Report(ok: true, cache: cache.directory, artifactsDir: artifactsDir, files: [])
        let text = outputOptions.output == .text
        let progress = text ? RunPrinter(terminal: terminal, verbose: false, names: ["rke2"]) : nil

        func show(_ line: Line) {
            report.files.append(line)
            guard text else { return }
            let outcome = line.file.outcome == .fetched ? terminal.green(line.file.outcome.rawValue) : line.file.outcome.rawValue
            let label = line.component ?? "RKE2 \(inventory.cluster.version)"
            terminal.print("  \(line.kind.padding(toLength: 8, withPad: " ", startingAt: 0)) \(outcome.padding(toLength: terminal.colourOut && line.file.outcome == .fetched ? 18 : 9, withPad: " ", startingAt: 0)) "
                + "\(line.file.name)  \(terminal.dim("\(ByteCount.text(line.file.bytes)), sha256 \(line.file.sha256.prefix(16))…, \(label)"))")
        }

        do {
            for component in inventory.enabledComponents {
                for url in component.manifestURLs {
                    let file = try await cache.refresh(url, offline: offline, pinned: component.pinnedSHA256[url])
                    show(Line(kind: "manifest", component: component.kind.title, file: file))
                }
            }
            if let artifactsDir {
                let fetcher = RKE2ArtifactFetcher(version: inventory.cluster.version, directory: artifactsDir,
                                                  mirror: inventory.componentsMirror, cache: cache.directory + "/rke2")
                let files = offline ? try fetcher.verify() : try await fetcher.fetch { name, received, total in
                    progress?.transfer(target: "rke2", file: name, sent: received, total: total)
                }
                for file in files { show(Line(kind: "rke2", component: nil, file: file)) }
            }
        } catch {
            report.ok = false
            report.error = "\(error)"
        }

        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(report))
        case .text:
            if let error = report.error {
                terminal.error(error)
            } else {
                let fetched = report.files.filter { $0.file.outcome == .fetched }.count
                let where_ = [cache.directory, artifactsDir].compactMap { $0 }.joined(separator: " and ")
                terminal.print(terminal.green("✓ everything `up` downloads is here") + ": \(fetched) fetched, \(report.files.count - fetched) already in place, in \(where_)")
            }
        }
        if !report.ok { throw ExitCodes.failure }
    }
}
