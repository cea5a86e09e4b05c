import ArgumentParser
import Foundation
import Kube
import ParvesterCore

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply manifests to a cluster by server-side apply, like `kubectl apply --server-side`.",
        discussion: """
            Takes files, directories (their .yaml, .yml and .json files, in name order) and http(s) URLs. \
            Namespaces go first, then CRDs (waited for until Established), then cluster-scoped RBAC and \
            service accounts, then everything else, in parallel. One line per object: created, configured, \
            unchanged or failed (with the server's message). Works on any cluster: -i for one `up` built, or \
            a kubeconfig.
            """)

    @Option(name: [.customShort("f"), .customLong("filename")], help: "A manifest file, directory or URL (repeatable).")
    var files: [String] = []

    @Option(name: [.customShort("n"), .customLong("namespace")], help: "Namespace for namespaced objects that name none.")
    var namespace = "default"

    @Option(name: .long, help: "`server`: the API server checks and answers as if applying, but stores nothing.")
    var dryRun: DryRunMode?

    @Option(name: .long, help: "The field manager the applied fields belong to.")
    var fieldManager = "parvester"

    @Flag(name: .long, help: "Take over fields another manager owns (as kubectl's --force-conflicts).")
    var forceConflicts = false

    @OptionGroup var target: KubeTargetOptions
    @OptionGroup var outputOptions: OutputOptions

    enum DryRunMode: String, ExpressibleByArgument { case server }

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one -f FILE, DIR or URL") }
    }

    func run() async throws {
        let terminal = Terminal()
        var objects: [KubeObject] = []
        for source in files {
            for (text, name) in try await Self.read(source) { objects += try KubeObject.parse(text, source: name) }
        }
        let cluster = try target.connect(terminal: terminal)
        var applier = KubeApplier(client: cluster.client, discovery: cluster.discovery)
        applier.fieldManager = fieldManager
        applier.force = forceConflicts
        applier.dryRun = dryRun != nil
        applier.defaultNamespace = namespace
        let results = await applier.apply(objects)
        let failed = results.filter { $0.outcome == .failed }.count
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(ApplyReport(ok: failed == 0, dryRun: dryRun != nil, objects: results.map(ApplyReport.Object.init))))
        case .text:
            for result in results {
                let outcome = result.outcome.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                let line = "\(outcome) \(result.object)" + (dryRun != nil ? " (server dry run)" : "")
                terminal.print(result.outcome == .failed ? terminal.red(line) + "\n           " + (result.error ?? "") : line)
            }
            let counts = ApplyResult.Outcome.allCases.map { outcome in (outcome, results.filter { $0.outcome == outcome }.count) }
                .filter { $0.1 > 0 }.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")
            terminal.print("\(results.count) objects: \(counts)")
        }
        if failed > 0 { throw ExitCodes.failure }
    }

    /// The manifests a -f names: (text, name for messages).
    static func read(_ source: String) async throws -> [(String, String)] {
        if source.hasPrefix("http://") || source.hasPrefix("https://") {
            return [(String(decoding: try await HTTPDownload.fetch(source), as: UTF8.self), source)]
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw ValidationError("\(source) does not exist")
        }
        let paths = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: source).sorted()
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }.map { source + "/" + $0 }
            : [source]
        return try paths.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return (String(decoding: data, as: UTF8.self), path)
        }
    }
}

struct ApplyReport: Encodable {
    struct Object: Encodable {
        var object: String
        var source: String
        var outcome: String
        var error: String?
        init(_ result: ApplyResult) {
            object = result.object
            source = result.source
            outcome = result.outcome.rawValue
            error = result.error
        }
    }

    var ok: Bool
    var dryRun: Bool
    var objects: [Object]
}
