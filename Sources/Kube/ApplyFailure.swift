import Foundation

/// A refused apply as a sentence the user can act on: who owns the conflicting fields and how to take
/// them over, every cause of a 422, and what a server dry run cannot know.
enum ApplyFailure {
    static func explain(_ response: KubeResponse, object: String, source: String, namespace: String?, force: Bool,
                        dryRun: Bool, context: ApplyContext) -> KubeError {
        var error = KubeError.status(response, doing: "applying \(object) from \(source)")
        let json = response.json
        let causes = (json?["details"] as? [String: Any])?["causes"] as? [[String: Any]] ?? []
        if response.status == 409, !force, !causes.isEmpty {
            let owners = causes.map { cause -> String in
                let field = cause["field"] as? String ?? "?"
                let manager = (cause["message"] as? String).flatMap(Self.manager) ?? "another manager"
                return "\(field) is owned by \(manager)"
            }
            error.message = "applying \(object) from \(source): conflict: " + owners.joined(separator: "; ")
                + ". Apply with --force-conflicts to take these fields over, or change the manifest to the values they have now"
        }
        if response.status == 404, dryRun, let namespace, context.namespaces.contains(namespace),
           (json?["details"] as? [String: Any])?["kind"] as? String == "namespaces" {
            error.message += ". Namespace \(namespace) is in this same apply, and a server dry run stores nothing, so the server cannot see it yet: this is the dry run's limit, not necessarily an error"
        }
        return error
    }

    /// `mgr-a` from `conflict with "mgr-a" using v1`.
    static func manager(_ message: String) -> String? {
        guard let open = message.firstIndex(of: "\""), let close = message[message.index(after: open)...].firstIndex(of: "\"") else { return nil }
        return String(message[message.index(after: open)..<close])
    }
}
