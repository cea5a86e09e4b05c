import CZlib
import Foundation

/// Which RKE2 release an airgap artifacts directory holds, read on this machine before any node is
/// touched: the tarball is inflated here and its `bin/rke2` scanned for the release string. RKE2's Go
/// binary carries it (set through the linker, as `rke2 --version` prints it); the lab's double holds it
/// as text. Nothing is written and nothing is extracted.
public enum AirgapArtifactsVersion {
    static let tarball = "rke2.linux-amd64.tar.gz"

    /// What `validate` warns about: the artifacts directory holds another release than cluster.version
    /// (`up` refuses it before touching a node).
    public static func mismatch(_ inventory: Inventory) -> String? {
        guard case .airgap(let directory) = inventory.cluster.install, FileManager.default.fileExists(atPath: directory + "/" + tarball),
              let found = try? read(directory: directory), found != inventory.cluster.version else { return nil }
        return "the airgap artifacts in \(directory) are RKE2 \(found), but cluster.version is \(inventory.cluster.version): "
            + "`up` will refuse them. Run `parvester fetch -i \(inventory.file)` to put \(inventory.cluster.version)'s there"
    }

    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    /// The version found in `directory`'s tarball, or nil when its bin/rke2 names none.
    static func read(directory: String) throws -> String? {
        let path = directory + "/" + tarball
        guard let file = FileHandle(forReadingAtPath: path) else { throw Unreadable(description: "cannot open \(path)") }
        defer { try? file.close() }
        var reader = TarReader(member: { $0 == "bin/rke2" || $0 == "./bin/rke2" })
        var scanner = VersionScanner()
        try Inflater.stream(file, path: path) { chunk in
            reader.feed(chunk) { scanner.feed($0) }
            return !reader.finished
        }
        return scanner.mostFrequent
    }
}

/// Inflates a gzip file chunk by chunk; `consume` returns false to stop early.
private enum Inflater {
    static func stream(_ file: FileHandle, path: String, consume: (UnsafeRawBufferPointer) -> Bool) throws {
        var stream = z_stream()
        // 15 + 32: the largest window, and a gzip or zlib header detected automatically.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AirgapArtifactsVersion.Unreadable(description: "zlib could not start inflating \(path)")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: 1 << 18)
        while true {
            let input = file.readData(ofLength: 1 << 18)
            if input.isEmpty { throw AirgapArtifactsVersion.Unreadable(description: "\(path) ends before its gzip stream does") }
            var status: Int32 = Z_OK
            try input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                stream.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(raw.count)
                repeat {
                    let produced = output.withUnsafeMutableBytes { out -> Int in
                        stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                        stream.avail_out = uInt(out.count)
                        status = inflate(&stream, Z_NO_FLUSH)
                        return out.count - Int(stream.avail_out)
                    }
                    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                        throw AirgapArtifactsVersion.Unreadable(description: "\(path) is not a valid gzip file (zlib error \(status))")
                    }
                    let more = output.withUnsafeBytes { consume(UnsafeRawBufferPointer(rebasing: $0[..<produced])) }
                    if !more || status == Z_STREAM_END { status = Z_STREAM_END; return }
                } while stream.avail_out == 0
            }
            if status == Z_STREAM_END { return }
        }
    }
}

/// Walks a tar stream's 512-byte headers and hands on the bytes of the members `member` accepts.
private struct TarReader {
    let member: (String) -> Bool
    private var header: [UInt8] = []
    private var remaining = 0  // data bytes left in the current member
    private var padding = 0    // bytes to skip after it, to the next 512-byte boundary
    private var wanted = false
    private(set) var finished = false

    init(member: @escaping (String) -> Bool) { self.member = member }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ data: (UnsafeRawBufferPointer) -> Void) {
        var index = 0
        while index < bytes.count, !finished {
            if remaining > 0 {
                let take = min(remaining, bytes.count - index)
                if wanted { data(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])) }
                remaining -= take
                index += take
                if remaining == 0, wanted { finished = true }  // the one member read: stop inflating
            } else if padding > 0 {
                let skip = min(padding, bytes.count - index)
                padding -= skip
                index += skip
            } else {
                let take = min(512 - header.count, bytes.count - index)
                header += bytes[index..<(index + take)]
                index += take
                guard header.count == 512 else { continue }
                if header.allSatisfy({ $0 == 0 }) { finished = true; return }  // the end-of-archive blocks
                let size = Int(Self.text(header[124..<136]).trimmingCharacters(in: .whitespaces), radix: 8) ?? 0
                let prefix = Self.text(header[345..<500])
                let name = (prefix.isEmpty ? "" : prefix + "/") + Self.text(header[0..<100])
                let type = header[156]
                wanted = (type == UInt8(ascii: "0") || type == 0) && member(name)
                remaining = size
                padding = (512 - size % 512) % 512
                header = []
                if size == 0, wanted { finished = true }
            }
        }
    }

    private static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// Counts release strings `vMAJOR.MINOR.PATCH[-rcN]+rke2rN` in a byte stream that arrives in chunks.
private struct VersionScanner {
    private var counts: [String: Int] = [:]
    private var carry: [UInt8] = []
    nonisolated(unsafe) private static let pattern = try! Regex(#"v[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,4}(-rc[0-9]{1,3})?\+rke2r[0-9]{1,3}"#)

    private var resume = 0  // where in `carry` scanning goes on

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        // Only around "+rke2r" can a release string be: look there, with the chunk's edges carried over.
        var buffer = carry
        buffer.append(contentsOf: bytes)
        let marker = Array("+rke2r".utf8)
        var i = resume
        while i + marker.count <= buffer.count {
            guard buffer[i] == marker[0], buffer[i..<(i + marker.count)].elementsEqual(marker) else { i += 1; continue }
            let end = i + marker.count + 4
            if end > buffer.count { break }  // its digits may be in the next chunk
            let window = String(decoding: buffer[max(0, i - 24)..<end].map { (32...126).contains($0) ? $0 : 32 }, as: UTF8.self)
            if let match = window.matches(of: Self.pattern).last { counts[String(window[match.range]), default: 0] += 1 }
            i += marker.count
        }
        let keep = max(0, i - 24)
        carry = Array(buffer[keep...])
        resume = i - keep
    }

    var mostFrequent: String? { counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key }
}
