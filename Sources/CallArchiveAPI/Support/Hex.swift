import Crypto

extension Digest {
    /// Lower-case hex, as `sha256sum` prints it.
    public var hexString: String {
        var s = ""
        s.reserveCapacity(64)
        for byte in self { s += String(byte, radix: 16).leftPadded(2) }
        return s
    }
}

extension String {
    package func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
