import Foundation
import TestSupport
import Testing
@testable import SSH

@Suite("Shell quoting and private key inspection")
struct ShellAndKeyTests {
    @Test func quotingKeepsSafeWordsBareAndQuotesTheRest() {
        #expect(ShellQuote.quote("/etc/rancher/rke2/config.yaml") == "/etc/rancher/rke2/config.yaml")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("a b") == "'a b'")
        #expect(ShellQuote.quote("it's") == #"'it'\''s'"#)
        #expect(ShellQuote.quote("$(touch /tmp/pwned); x") == "'$(touch /tmp/pwned); x'")
        #expect(ShellQuote.command(["printf", #"%s\n"#, "a;b"]) == #"printf '%s\n' 'a;b'"#)
    }

    /// The shell on this machine reads every quoted word back exactly (run locally: no network).
    @Test(arguments: ["plain", "two words", "it's", "$(id)", "`id`", "a\nb", "\\", "*", "-n", "'\"'", "ünï"])
    func quotedWordsSurviveASh(_ word: String) throws {
        let output = try LocalProcess.run("/bin/sh", ["-c", "printf '%s' \(ShellQuote.quote(word))"])
        #expect(output.stdout == word)
    }

    private func keygen(_ type: String, passphrase: String = "", format: String? = nil) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-key-\(UUID().uuidString)").path
        let output = try LocalProcess.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-f", path] + (format.map { ["-m", $0] } ?? []))
        try #require(output.status == 0)
        return path
    }

    @Test func inspectsOpenSSHKeysWithoutDecryptingThem() throws {
        let ed = try PrivateKeyFile(path: try keygen("ed25519"))
        #expect(ed.format == .openSSH(keyType: "ssh-ed25519", encrypted: false))
        let locked = try PrivateKeyFile(path: try keygen("ecdsa", passphrase: "secret"))
        #expect(locked.format == .openSSH(keyType: "ecdsa-sha2-nistp256", encrypted: true))
        #expect(locked.isEncrypted)
        let rsa = try PrivateKeyFile(path: try keygen("rsa"))
        #expect(rsa.isRSA)
    }

    @Test func recognisesPEMFormats() throws {
        // ssh-keygen writes ed25519 only in OpenSSH format; this is what openssl genpkey writes.
        let pkcs8 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBbgKUbA2qLXxPjYe2Ttk9OMkfqCSM2Sr38yNvOKRdZ8\n-----END PRIVATE KEY-----\n"
        #expect(PrivateKeyFile.inspect(pkcs8) == .pkcs8(encrypted: false))
        let pem = try PrivateKeyFile(path: try keygen("rsa", format: "PEM"))
        #expect(pem.format == .legacyPEM(label: "RSA PRIVATE KEY", encrypted: false))
        #expect(pem.isRSA)
    }
}
