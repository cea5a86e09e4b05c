import ParvesterCore
for path in CommandLine.arguments.dropFirst() {
    do { let inv = try InventoryLoader.load(path: path); print("ok", path, inv.nodes.map(\.name), inv.initialServer.name) }
    catch { print(error) }
}
