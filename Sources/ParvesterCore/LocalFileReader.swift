import Foundation

/// Reads a small local file (inventory, token file) with a size limit checked before reading, and says
/// what a path is when it is not a regular file (a FIFO would block forever, /dev/zero never ends).
enum LocalFileReader {
    struct Failure: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    static func contents(of path: String, limit: Int, what: String) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Failure(reason: errno == ENOENT ? "it does not exist" : "it is not readable (\(String(cString: strerror(errno))))")
        }
        if let kind = nonRegularKind(info.st_mode) {
            throw Failure(reason: "it is \(kind), not a regular file; give the path of the \(what) file itself")
        }
        if Int(info.st_size) > limit {
            throw Failure(reason: "it is \(info.st_size) bytes; the limit is \(limit / 1024) KiB")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Failure(reason: "it is not readable (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        // Read at most limit+1 bytes: a file that grows after the check is still caught.
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw Failure(reason: "it is not readable (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else { throw Failure(reason: "it is the limit is \(limit / 1024) KiB") }
        return Array(bytes.prefix(count))
    }

    private static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }
}
