import Foundation

/// Byte counts as people read them, in binary units: `512 B`, `3.2 MiB`; negative (not known) is `unknown`.
public enum ByteCount {
    public static func text(_ n: Int64) -> String {
        if n < 0 { return "unknown" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024, i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }
}
