import Foundation

/// The user's home: $HOME when set (as ssh and kubectl use it), else the password database's entry.
public enum UserHome {
    public static var path: String {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { return home }
        return NSHomeDirectory()
    }
}
