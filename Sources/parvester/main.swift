import ParvesterCore
import YAML
let inv = try InventoryLoader.load(path: CommandLine.arguments[1])
let r = RKE2ConfigRenderer(inventory: inv)
for n in inv.nodes.prefix(5) { for f in try r.files(for: n, token: Secret("s3cr3t")) { print("== \(n.name) \(f.path)\n\(f.content)") } }
print(try BridgeUnitRenderer(inventory: inv).file(for: inv.nodes[0]).content)
print(try YAMLEmitter.emit(documents: ClusterObjectRenderer(inventory: inv).allObjects()))
