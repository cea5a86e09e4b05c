import CLibCrypto
import Foundation

/// One certificate's validity end, read with libcrypto from the PEM RKE2 keeps on a server.
public struct CertificateExpiry: Sendable, Codable, Equatable {
    public var node: String
    public var file: String
    public var notAfter: Date

    public func daysLeft(now: Date = Date()) -> Int { Int((notAfter.timeIntervalSince(now) / 86400).rounded(.down)) }

    /// RKE2 renews its certificates when it starts within this many days of their expiry.
    public static let renewalDays = 120
    /// `status` warns below this.
    public static let warningDays = 30

    /// The end date of each certificate in a PEM text (a file may hold a chain).
    static func notAfterDates(pem: String) -> [Date] {
        var dates: [Date] = []
        let bytes = Array(pem.utf8)
        bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                defer { X509_free(certificate) }
                var time = tm()
                if let end = X509_get0_notAfter(certificate), ASN1_TIME_to_tm(end, &time) == 1 {
                    dates.append(Date(timeIntervalSince1970: TimeInterval(timegm(&time))))
                }
            }
            ERR_clear_error()  // the loop ends on "no start line", which is not an error here
        }
        return dates
    }
}
