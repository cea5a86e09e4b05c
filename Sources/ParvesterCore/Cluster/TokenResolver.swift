import Foundation

/// Decides the cluster token. A running cluster's node-token is the truth; otherwise the inventory's
/// token or token file; otherwise one generated once (256 random bits) and kept in the state directory,
/// written there before any node sees it, so a killed run cannot lose it.
enum TokenResolver {
    static let nodeTokenPath = "/var/lib/rancher/rke2/server/node-token"

    static func resolve(_ context: RunContext) async throws -> Secret {
        let initial = context.inventory.initialServer
        let state = context.options.stateDirectory
        let wanted: Secret?
        switch context.inventory.cluster.token {
        case .inline(let secret):
            wanted = secret
        case .file(let path):
            let text: String
            do { text = try ClusterToken.read(path) } catch { throw RunAbort("cannot read the token file \(path): \(error)") }
            if let problem = ClusterToken.problem(text) { throw RunAbort("the token in \(path) \(problem)") }
            wanted = Secret(text)
        case .generated:
            wanted = state.read(state.tokenPath).map { Secret(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        if context.facts(initial)?.hasNodeToken == true {
            let full: String
            if let known = context.facts(initial)?.nodeToken {
                full = known.revealed
            } else {
                full = try await context.run(initial, "cat \(nodeTokenPath)", summary: "read the cluster's node-token").stdoutText
            }
            let running = Secret(secretPart(full.trimmingCharacters(in: .whitespacesAndNewlines)))
            if let wanted, secretPart(wanted.revealed) != running.revealed {
                switch context.inventory.cluster.token {
                case .generated:
                    break  // the state directory's token is older than this cluster: the cluster wins
                default:
                    throw RunAbort("the inventory's token does not match the token of the cluster already running on \(initial.name) (\(nodeTokenPath)). Use the cluster's token, or remove RKE2 from the nodes (rke2-uninstall.sh) to start a new cluster")
                }
            }
            if case .generated = context.inventory.cluster.token, wanted?.revealed != running.revealed, !context.planning {
                try state.write(Data((running.revealed + "\n").utf8), to: state.tokenPath)
            }
            return running
        }
        if let wanted { return Secret(secretPart(wanted.revealed)) }
        let generated = Secret(try randomHex(bytes: 32))
        if !context.planning {
            try state.write(Data((generated.revealed + "\n").utf8), to: state.tokenPath)
        }
        return generated
    }

    /// RKE2's full token is K10<CA hash>::server:<secret>; servers compare the secret part.
    static func secretPart(_ token: String) -> String {
        guard token.hasPrefix("K10"), let separator = token.range(of: "::") else { return token }
        let rest = token[separator.upperBound...]
        guard let colon = rest.firstIndex(of: ":") else { return String(rest) }
        return String(rest[rest.index(after: colon)...])
    }

    static func randomHex(bytes: Int) throws -> String {
        var generator = SystemRandomNumberGenerator()  // getrandom(2) on Linux
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
