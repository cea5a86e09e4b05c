import YAML

/// cloud-init user data (`#cloud-config` YAML), edited as a tree, never as text.
enum CloudConfig {
    static let header = "#cloud-config"

    /// The user data with the default user's password set the memo's way: `password`, no forced change
    /// at first login, SSH password logins allowed. Keys the user data already sets are kept, except
    /// `password`, which must come from one place only.
    static func settingPassword(_ password: String, in userData: String, vm: String) throws -> String {
        guard userData.hasPrefix(header) else {
            throw YAMLError(.invalidValue, at: .none, file: nil,
                            "VM \(vm): a password can only be added to #cloud-config user data; set it inside your user data instead")
        }
        let tree = try YAMLParser.parse(userData, file: "VM \(vm) user data") ?? .mapping([])
        guard let pairs = tree.isNull ? [] : tree.mapping else {
            throw YAMLError(.invalidValue, at: tree.mark, file: "VM \(vm) user data", "#cloud-config user data must be a mapping")
        }
        let keys = Set(pairs.compactMap { $0.key.scalar?.value })
        if keys.contains("password") {
            throw YAMLError(.invalidValue, at: .none, file: nil,
                            "VM \(vm): its user data sets password and so does cloudInit; keep one")
        }
        var added: [(String, YAMLNode)] = [("password", .string(password))]
        if !keys.contains("chpasswd") { added.append(("chpasswd", .mapping([("expire", .bool(false))]))) }
        if !keys.contains("ssh_pwauth") { added.append(("ssh_pwauth", .bool(true))) }
        let result = YAMLNode(.mapping(pairs + added.map { YAMLNode.Pair(key: .string($0.0), value: $0.1) }))
        return header + "\n" + (try YAMLEmitter.emit(result))
    }
}
