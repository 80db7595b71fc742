import Crypto

/// The hash that links one audit entry to the one before it (DESIGN §8):
/// `SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of the entry)`, where the canonical JSON is the entry's fields with
/// sorted keys — exactly what `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes — and `detail`
/// is the stored detail text (itself written canonically by `APIJSON.text`).
///
/// Built by concatenation rather than by encoding a dictionary, so that verifying a million entries hashes the
/// stored detail as it is, without decoding and re-encoding it (`AuditEntryHashTests` checks that both spellings
/// agree byte for byte).
package enum AuditEntryHash {
    package static let genesis = String(repeating: "0", count: 64)

    package static func hash(
        prev: String, at: String, actor: String, role: String, action: String, target: String?, outcome: String,
        detailJSON: String
    ) -> String {
        var text = prev
        text.reserveCapacity(prev.utf8.count + detailJSON.utf8.count + 160)
        text += "\n{\"action\":"
        appendQuoted(action, to: &text)
        text += ",\"actor\":"
        appendQuoted(actor, to: &text)
        text += ",\"at\":"
        appendQuoted(at, to: &text)
        text += ",\"detail\":"
        text += detailJSON
        text += ",\"outcome\":"
        appendQuoted(outcome, to: &text)
        text += ",\"role\":"
        appendQuoted(role, to: &text)
        text += ",\"target\":"
        if let target { appendQuoted(target, to: &text) } else { text += "null" }
        text += "}"
        var hasher = SHA256()
        var t = text
        t.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize().hexString
    }

    /// A JSON string literal as Foundation's `JSONEncoder` spells it: `"` and `\` escaped, the five short
    /// control escapes, every other control character as `\u00xx`, everything else (slashes, non-ASCII) as is.
    package static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        var plain = true
        for u in s.utf8 where u < 0x20 || u == 0x22 || u == 0x5C {
            plain = false
            break
        }
        if plain {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar.value {
                case 0x22: out += "\\\""
                case 0x5C: out += "\\\\"
                case 0x08: out += "\\b"
                case 0x09: out += "\\t"
                case 0x0A: out += "\\n"
                case 0x0C: out += "\\f"
                case 0x0D: out += "\\r"
                case 0..<0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
