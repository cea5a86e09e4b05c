import CCurl
import CCurlShim
import CLibSSH2
import Foundation
import Kube
import SSH
import Testing

@Suite("The system libraries link and behave")
struct NativeLibraryTests {
    @Test func libssh2Initialises() throws {
        try LibSSH2Runtime.ensureInitialised()
        #expect(LibSSH2Runtime.version.hasPrefix("1."))
        let session = libssh2_session_init_ex(nil, nil, nil, nil)
        #expect(session != nil)
        libssh2_session_free(session)
    }

    @Test func libcurlInitialisesWithTLS() throws {
        try LibCurlRuntime.ensureInitialised()
        #expect(LibCurlRuntime.supportsTLS)
        #expect(LibCurlRuntime.version.contains("OpenSSL"), "the Kube module expects libcurl4-openssl-dev")
    }

    @Test func shimSetsOptionsAndReportsUnknownOnes() throws {
        try LibCurlRuntime.ensureInitialised()
        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        #expect(parvester_curl_easy_setopt_string(handle, CURLOPT_URL, "https://example.invalid/") == CURLE_OK)
        #expect(parvester_curl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, 1500) == CURLE_OK)
        #expect(parvester_curl_easy_setopt_long(handle, CURLoption(rawValue: 99_999), 1) == CURLE_UNKNOWN_OPTION)
        var code: Int = -1
        #expect(parvester_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
        #expect(code == 0, "no transfer yet")
    }

    /// A real transfer through the shim's callbacks, from a local file:// URL (no network).
    @Test func shimCallbacksReceiveATransfer() throws {
        try LibCurlRuntime.ensureInitialised()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-curl-\(UUID().uuidString)")
        let payload = Data((0..<200_000).map { UInt8($0 % 251) })
        try payload.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        final class Sink { var data = Data() }
        let sink = Sink()
        let handle = try #require(curl_easy_init())
        defer { curl_easy_cleanup(handle) }
        #expect(parvester_curl_easy_setopt_string(handle, CURLOPT_URL, file.absoluteString) == CURLE_OK)
        #expect(parvester_curl_easy_setopt_write_function(handle) { pointer, size, count, context in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            sink.data.append(UnsafeRawPointer(pointer!).assumingMemoryBound(to: UInt8.self), count: size * count)
            return size * count
        } == CURLE_OK)
        #expect(parvester_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque()) == CURLE_OK)
        #expect(curl_easy_perform(handle) == CURLE_OK)
        var downloaded: curl_off_t = 0
        #expect(parvester_curl_easy_getinfo_off_t(handle, CURLINFO_SIZE_DOWNLOAD_T, &downloaded) == CURLE_OK)
        #expect(downloaded == curl_off_t(payload.count))
        #expect(sink.data == payload)
    }
}
