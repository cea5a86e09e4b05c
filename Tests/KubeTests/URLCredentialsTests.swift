import Foundation
import Kube
import Testing

@Suite("Credentials in URLs stay out of messages")
struct URLCredentialsTests {
    @Test func aDownloadErrorMasksTheCredentials() async throws {
        // Port 1 on loopback: nothing listens, so libcurl fails at once.
        let error = await #expect(throws: KubeError.self) {
            _ = try await HTTPDownload.fetch("http://deploy:hunter2@127.0.0.1:1/manifest.yaml", timeout: 5)
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("cannot download http://***@127.0.0.1:1/manifest.yaml"), "\(text)")
        #expect(!text.contains("hunter2") && !text.contains("deploy"))
    }

    @Test func onlyTheUserInfoIsMasked() {
        #expect(URLCredentials.redacted(in: "from https://u:p@m.example/a@b and ftp://x@y/") == "from https://***@m.example/a@b and ftp://***@y/")
        #expect(URLCredentials.redacted(in: "mail root@example.com") == "mail root@example.com")
    }
}
