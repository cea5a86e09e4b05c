/// `snapshot save`, `snapshot list`, `snapshot restore` and `certs check` (docs/upgrades.md).
public enum SnapshotActions {
    public static func save(_ inventory: Inventory, name: String?) -> Action {
        Action(name: "snapshot save", phases: [
            LocalInputsPhase(keysOnly: true), ConnectPhase(nodes: { $0.inventory.servers }), LockPhase(), GatherFactsPhase(),
            SnapshotSavePhase(name: name),
        ])
    }

    /// Reads only: no lock, so it answers while another run holds it.
    public static func list(_ inventory: Inventory) -> Action {
        Action(name: "snapshot list", phases: [
            LocalInputsPhase(keysOnly: true), ConnectPhase(nodes: { $0.inventory.servers }), SnapshotListPhase(),
        ], finally: [], recordsLastRun: false)
    }

    public static func restore(_ inventory: Inventory, name: String) -> Action {
        Action(name: "snapshot restore", phases: [
            LocalInputsPhase(keysOnly: true), ConnectPhase(), LockPhase(), GatherFactsPhase(), ResolveSnapshotPhase(name: name),
            RestorePhase(name: name),
        ])
    }

    public static func certificates(_ inventory: Inventory) -> Action {
        Action(name: "certs check", phases: [
            LocalInputsPhase(keysOnly: true), ConnectPhase(nodes: { $0.inventory.servers }), CertificatesPhase(),
        ], finally: [], recordsLastRun: false)
    }
}
