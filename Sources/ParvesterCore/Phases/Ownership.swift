import Kube
import YAML

/// The label Parvester puts on the Nodes and objects it makes, so that what belongs to a cluster and
/// left the inventory can be found from the API, from any machine.
public enum Ownership {
    public static let clusterLabel = "parvester.io/cluster"

    /// The object with `parvester.io/cluster: NAME` among its labels.
    public static func labelled(_ object: KubeObject, cluster: String) -> KubeObject {
        var object = object
        object.node = setting(["metadata", "labels", clusterLabel], to: .string(cluster), in: object.node)
        return object
    }

    private static func setting(_ path: ArraySlice<String>, to value: YAMLNode, in node: YAMLNode) -> YAMLNode {
        guard let key = path.first else { return value }
        var pairs = node.mapping ?? []
        if let index = pairs.firstIndex(where: { $0.key.scalar?.value == key }) {
            pairs[index].value = setting(path.dropFirst(), to: value, in: pairs[index].value)
        } else {
            pairs.append(YAMLNode.Pair(key: .string(key), value: setting(path.dropFirst(), to: value, in: .mapping([]))))
        }
        return YAMLNode(.mapping(pairs), mark: node.mark, tag: node.tag)
    }

    static func setting(_ path: [String], to value: YAMLNode, in node: YAMLNode) -> YAMLNode { setting(path[...], to: value, in: node) }
}
