/// Keeps phone numbers out of logs. Spool file names may carry them (recorders often name files after
/// the caller, and `spool.filenamePattern` can read `caller_number` from the name), and error messages carry
/// paths, so everything logged that holds a file name or path goes through here. It also escapes control
/// characters, so that a newline in a file name cannot forge a log line.
public enum Redaction {
    /// Replaces every run of 7 or more digits (with an optional leading `+`, and `-`, `.` or space
    /// separators inside it) by `[number]`. Shorter digit runs (counts) and ISO dates stay readable.
    public static func redactNumbers(_ text: String) -> String {
        let chars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < chars.count {
            var j = i
            if chars[j] == "+" { j += 1 }
            var digits = 0
            var end = j
            while end < chars.count {
                let c = chars[end]
                if c.properties.numericType == .decimal {
                    digits += 1
                } else if (c == "-" || c == "." || c == " "), digits > 0, end + 1 < chars.count,
                    chars[end + 1].properties.numericType == .decimal
                {
                    // a separator between digits
                } else {
                    break
                }
                end += 1
            }
            if digits >= 7 {
                if isDate(chars[i..<end]) {
                    out.append(contentsOf: chars[i..<end])
                } else {
                    out.append(contentsOf: "[number]".unicodeScalars)
                }
                i = end
            } else if digits > 0 {
                out.append(contentsOf: chars[i..<end])
                i = end
            } else if chars[i].value < 0x20 || chars[i].value == 0x7F {
                // Control characters (a newline in a file name) would forge log lines: escape them.
                out.append(contentsOf: "\\u{\(String(chars[i].value, radix: 16))}".unicodeScalars)
                i += 1
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        return String(out)
    }

    /// `2026-03-15`: a date, not a number (no phone number is written in 4-2-2 groups).
    private static func isDate(_ s: ArraySlice<Unicode.Scalar>) -> Bool {
        let groups = String(String.UnicodeScalarView(s)).split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [4, 2, 2] && groups.allSatisfy { $0.allSatisfy(\.isNumber) }
    }
}
