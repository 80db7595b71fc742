import Foundation

/// Phone numbers are stored normalised (E.164 where possible) so that search matches either form.
/// They are personal data: never logged.
public enum PhoneNumber {
    public static func normalise(_ raw: String) -> String {
        var s = raw.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("00") { s = "+" + s.dropFirst(2) }
        let plus = s.hasPrefix("+")
        let digits = s.filter(\.isNumber)
        if digits.isEmpty { return s }
        return (plus ? "+" : "") + digits
    }
}

/// RFC 3339 timestamps, as the sidecar and `--json` output use them.
public enum RFC3339 {
    /// Every RFC 3339 `date-time` (section 5.6: `T`, `t` or a space between date and time, any number of fraction
    /// digits, `Z`, `z` or an offset up to ±23:59, a leap second read as the second before it), years 0001…9999;
    /// and what Foundation's ISO 8601 parser reads besides, as sidecars have always been read.
    public static func parse(_ s: String) -> Date? {
        if let d = strict(s) { return d }
        if let d = try? Date(s, strategy: .iso8601) { return d }
        let f = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return try? f.parse(s)
    }

    /// RFC 3339 `date-time` exactly (see `parse`).
    package static func strict(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count >= 20 else { return nil }
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for c in b[at..<at + n] {
                guard (0x30...0x39).contains(c) else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == 0x2D, let month = digits(5, 2), b[7] == 0x2D, let day = digits(8, 2),
            [0x54, 0x74, 0x20].contains(b[10]), let hour = digits(11, 2), b[13] == 0x3A, let minute = digits(14, 2),
            b[16] == 0x3A, let second = digits(17, 2)
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard year >= 1, (1...12).contains(month), (1...monthDays[month - 1]).contains(day), hour <= 23, minute <= 59,
            second <= 60
        else { return nil }
        var i = 19
        var nanoseconds = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            let start = i
            var scale = 100_000_000
            while i < b.count, (0x30...0x39).contains(b[i]) {
                nanoseconds += Int(b[i] - 0x30) * scale  // digits past the ninth add 0
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            guard let h = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let m = digits(i + 4, 2), h <= 23, m <= 59
            else { return nil }
            offset = (h * 60 + m) * 60 * (b[i] == 0x2D ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = Int(Self.daysFromCivil(Int64(year), Int64(month), Int64(day)))
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offset
        return Date(timeIntervalSince1970: Double(seconds) + (second == 60 ? 0.999 : Double(nanoseconds) / 1e9))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`; `format(milliseconds:)`
    /// uses its inverse).
    package static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// `20260315T101500Z` or `20260315-101500` (UTC), common in recorder file names.
    package static func parseCompact(_ s: String) -> Date? {
        // ASCII digits only: `Character.isNumber` is also true of "½" or "٣", which `Int(_:)` cannot read.
        let d = s.utf8.filter { (0x30...0x39).contains($0) }.map { Int($0 - 0x30) }
        guard d.count == 14 else { return nil }
        func n(_ a: Int, _ b: Int) -> Int { d[a..<b].reduce(0) { $0 * 10 + $1 } }
        var c = DateComponents()
        c.year = n(0, 4)
        c.month = n(4, 6)
        c.day = n(6, 8)
        c.hour = n(8, 10)
        c.minute = n(10, 12)
        c.second = n(12, 14)
        c.timeZone = TimeZone(identifier: "UTC")
        return Calendar(identifier: .gregorian).date(from: c)
    }

    /// UTC, millisecond precision (rounded, so `…42.423Z` in a sidecar stays `…42.423Z`):
    /// `2024-09-24T18:09:42.423Z`. Sorts as text in time order (years 0…9999).
    public static func format(_ d: Date) -> String {
        format(milliseconds: Int64((d.timeIntervalSince1970 * 1000).rounded()))
    }

    /// `format` for milliseconds since the epoch. The civil date comes from the day count (H. Hinnant's
    /// `civil_from_days`) rather than through `Calendar`, which cost microseconds a call: retention formats
    /// several dates per recording, and the synthetic-index generator millions.
    public static func format(milliseconds ms: Int64) -> String {
        let days = ms.floorDiv(86_400_000)
        let rem = ms - days * 86_400_000
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var out = [UInt8](repeating: 0, count: 24)
        func put(_ v: Int64, _ at: Int, _ width: Int) {
            var v = max(0, v)
            for i in stride(from: at + width - 1, through: at, by: -1) {
                out[i] = 0x30 + UInt8(v % 10)
                v /= 10
            }
        }
        put(year, 0, 4)
        out[4] = 0x2D
        put(month, 5, 2)
        out[7] = 0x2D
        put(day, 8, 2)
        out[10] = 0x54
        put(rem / 3_600_000, 11, 2)
        out[13] = 0x3A
        put(rem / 60_000 % 60, 14, 2)
        out[16] = 0x3A
        put(rem / 1000 % 60, 17, 2)
        out[19] = 0x2E
        put(rem % 1000, 20, 3)
        out[23] = 0x5A
        return String(decoding: out, as: UTF8.self)
    }
}

extension Int64 {
    package func floorDiv(_ d: Int64) -> Int64 { (self >= 0 ? self : self - d + 1) / d }
    package func floorMod(_ d: Int64) -> Int64 { ((self % d) + d) % d }
}
