import ArgumentParser
import Foundation
import Kube
import ParvesterCore

/// `vm console NAME`: the VM's serial console, as `virtctl console` shows it.
struct VMConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "The VM's serial console (Ctrl+] leaves).",
        discussion: """
            On a terminal, keys go to the VM (the terminal is in raw mode until you leave with Ctrl+]). Without \
            one, the console streams to stdout and stdin is sent to the VM, so `parvester vm console vm1 \
            --duration 60s > boot.log` keeps a boot log. While the VM is not running yet, it waits and retries \
            each second up to --timeout; a dropped connection is made again.
            """)

    @Argument(help: "The VM's name.")
    var name: String

    @Option(name: [.short, .long], help: "The namespace.")
    var namespace: String = defaultNamespace

    @Option(name: .long, help: "How long to wait for the VM to run (and for a dropped connection to come back).", transform: DurationFlag.positive)
    var timeout: DurationValue = .seconds(300)

    @Option(name: .long, help: "Leave after this long (for boot logs).", transform: DurationFlag.positive)
    var duration: DurationValue?

    @Option(name: .long, help: "Send a keepalive ping this often, so that proxies keep an idle console open.", transform: DurationFlag.short)
    var keepalive: DurationValue = .seconds(20)

    @OptionGroup var target: KubeTargetOptions

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)  // a closed reader (`| head`) ends the session, not the process
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        try await VMIStreamTarget.requireVM(cluster.client, namespace: namespace, name: name)
        var session = VMConsoleSession(stream: VMIStream(credentials: cluster.client.credentials, namespace: namespace, name: name, subresource: "console"))
        session.waitTimeout = timeout.seconds
        session.keepalive = keepalive.seconds
        session.duration = duration?.seconds
        let configured = session
        let end = try await VMIStreamTarget.onThread {
            try RawTerminal.with { raw in
                var session = configured
                session.escapeByte = raw ? 0x1d : nil
                do {
                    return try session.run(input: STDIN_FILENO, output: STDOUT_FILENO) { text in
                        // A raw terminal does not turn "\n" into a new line: say it in full.
                        if raw { FileHandle.standardError.write(Data(("\r\n" + terminal.dim(text) + "\r\n").utf8)) } else { terminal.hint(text) }
                    }
                } catch is ConsoleOutputClosed {
                    return ConsoleEnd.durationElapsed
                }
            }
        }
        switch end {
        case .escaped: terminal.hint("\nleft the console of \(namespace)/\(name)")
        case .durationElapsed: break
        case .closedByServer(let code, let reason):
            terminal.hint("\nthe console of \(namespace)/\(name) closed (\(code)\(reason.isEmpty ? "" : ": " + reason))")
        }
    }
}

/// What `vm console` and `vm vnc` share: refusing a VM that does not exist (rather than waiting five
/// minutes for it), and running a blocking session off Swift's cooperative threads.
enum VMIStreamTarget {
    static func requireVM(_ client: KubeHTTPClient, namespace: String, name: String) async throws {
        let base = "/apis/kubevirt.io/v1/namespaces/\(namespace)"
        for path in ["\(base)/virtualmachineinstances/\(name)", "\(base)/virtualmachines/\(name)"] {
            let response = try await client.send("GET", path)
            if response.status == 200 { return }
            if response.status != 404 { throw KubeError.status(response, doing: "reading \(namespace)/\(name)") }
        }
        throw ValidationError("there is no VM or VMI \(namespace)/\(name); see `parvester vm list`")
    }

    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }
}
