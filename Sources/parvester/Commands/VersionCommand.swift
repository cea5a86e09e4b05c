import ArgumentParser
import Kube
import ParvesterCore
import SSH
import YAML

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print Parvester's version and the libraries it runs with (for bug reports).")

    func run() throws {
        let terminal = Terminal()
        terminal.print("parvester \(ParvesterVersion.current)")
        terminal.print("libssh2 \(LibSSH2Runtime.version)")
        terminal.print("libcurl \(LibCurlRuntime.version)")
        terminal.print("libyaml \(YAMLParser.libraryVersion)")
    }
}
