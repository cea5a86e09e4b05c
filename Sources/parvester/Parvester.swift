import ArgumentParser
import Kube
import ParvesterCore

@main
struct Parvester: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parvester",
        abstract: "Build a poor man's Harvester (RKE2 + KubeVirt + CDI + Multus) on your machines over SSH.",
        discussion: """
            Parvester reads an inventory of nodes (see docs/inventory.md) and drives them from this machine.

            Exit codes: 0 success; 1 the operation failed; 2 the inventory is invalid (nothing was touched); \
            64 the command line is wrong.
            """,
        version: ParvesterVersion.current,
        subcommands: [ValidateCommand.self, CheckCommand.self, PlanCommand.self, UpCommand.self, UpgradeCommand.self, RemoveCommand.self, ResetCommand.self, SnapshotCommand.self, CertsCommand.self, KubeconfigCommand.self, ApplyCommand.self, StatusCommand.self, FetchCommand.self, ImageCommand.self, VMCommand.self, RenderCommand.self, VersionCommand.self])
}
