import Foundation
import SSH

/// Paths in an inventory are relative to the inventory file's directory; `~` is the user's home.
enum LocalPath {
    static func resolve(_ path: String, relativeTo directory: String) -> String {
        if path == "~" || path.hasPrefix("~/") {
            return UserHome.path + path.dropFirst()
        }
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
    }
}
