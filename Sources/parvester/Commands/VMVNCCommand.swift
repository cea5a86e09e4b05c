import ArgumentParser
import Foundation
import Kube
import ParvesterCore

/// `vm vnc NAME`: the VM's screen for a VNC viewer, or a screenshot of it.
struct VMVNCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vnc", abstract: "The VM's screen: a VNC port on 127.0.0.1 for a viewer, or --screenshot FILE.png.",
        discussion: """
            Listens on 127.0.0.1 (a port of its own unless --port is given) and relays each viewer to the VM's \
            VNC through the Kubernetes API, until Ctrl+C. --open starts remote-viewer or vncviewer when one is \
            installed.
            """)

    @Argument(help: "The VM's name.")
    var name: String

    @Option(name: [.short, .long], help: "The namespace.")
    var namespace: String = defaultNamespace

    @Option(name: .long, help: "The local port (default: any free one).")
    var port: UInt16 = 0

    @Flag(name: .long, help: "Start remote-viewer or vncviewer on the port.")
    var open = false

    @Option(name: .long, help: "Save a PNG of the screen to this file and exit.", completion: .file(extensions: ["png"]))
    var screenshot: String?

    @Option(name: .long, help: "How long a viewer's connection waits for the VM to run.", transform: DurationFlag.positive)
    var timeout: DurationValue = .seconds(300)

    @OptionGroup var target: KubeTargetOptions

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        try await VMIStreamTarget.requireVM(cluster.client, namespace: namespace, name: name)
        let stream = VMIStream(credentials: cluster.client.credentials, namespace: namespace, name: name, subresource: "vnc")
        if let screenshot {
            let response = try await cluster.client.send("GET", stream.path + "/screenshot?moveCursor=false", accept: "image/png")
            guard response.status == 200 else { throw KubeError.status(response, doing: "taking a screenshot of \(namespace)/\(name)") }
            guard let size = PNGHeader.size(response.body) else {
                throw ValidationError("the screenshot of \(namespace)/\(name) is not a PNG (\(response.contentType), \(response.body.count) bytes)")
            }
            try response.body.write(to: URL(fileURLWithPath: screenshot), options: .atomic)
            terminal.print(terminal.green("✓ ") + "\(screenshot): \(namespace)/\(name)'s screen, \(size.width)×\(size.height) PNG")
            return
        }
        let proxy = try VNCProxy(stream: stream, port: port)
        proxy.waitTimeout = timeout.seconds
        terminal.print("VNC of \(namespace)/\(name) on 127.0.0.1:\(proxy.port) (vncviewer 127.0.0.1::\(proxy.port)); Ctrl+C ends")
        if open { launchViewer(port: proxy.port, terminal: terminal) }
        let notice: @Sendable (String) -> Void = { Terminal().hint($0) }
        try await VMIStreamTarget.onThread { proxy.serve(notice: notice) }
    }

    /// remote-viewer (virt-viewer) takes a vnc:// URL; TigerVNC's and TightVNC's vncviewer take HOST::PORT.
    private func launchViewer(port: UInt16, terminal: Terminal) {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates: [(String, [String])] = [("remote-viewer", ["vnc://127.0.0.1:\(port)"]), ("vncviewer", ["127.0.0.1::\(port)"])]
        for (tool, arguments) in candidates {
            guard let executable = path.split(separator: ":").map({ "\($0)/\(tool)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { continue }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            do {
                try process.run()
                terminal.hint("started \(tool) \(arguments.joined(separator: " "))")
            } catch {
                terminal.warning("could not start \(executable): \(error)")
            }
            return
        }
        terminal.warning("--open: neither remote-viewer (apt install virt-viewer) nor vncviewer is installed; point a viewer at 127.0.0.1:\(port)")
    }
}

/// The width and height in a PNG's IHDR chunk, or nil when the data is not a PNG.
enum PNGHeader {
    static func size(_ data: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](data.prefix(24))
        guard bytes.count == 24, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], bytes[12..<16] == [0x49, 0x48, 0x44, 0x52] else { return nil }
        func word(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (word(16), word(20))
    }
}
