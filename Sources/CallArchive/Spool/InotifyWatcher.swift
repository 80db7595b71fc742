import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Watches a directory tree with inotify (IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE of directories) and
/// calls `onChange` for every batch of events; new subdirectories are watched as they appear. On queue
/// overflow it still calls `onChange`: the caller rescans, so nothing is missed.
///
/// Runs on a thread of its own (blocking `poll`), never on the concurrency pool.
public final class InotifyWatcher: Sendable {
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)
    private let watches = Locked<[Int32: String]>([:])
    private let onChange: @Sendable () -> Void

    public init(root: String, onChange: @escaping @Sendable () -> Void) throws(ArchiveError) {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw .errno("inotify_init1", root) }
        self.onChange = onChange
        addTree(root)
    }

    deinit { close(fd) }

    private static let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)

    /// Adds watches for `dir` and every directory below it.
    public func addTree(_ dir: String) {
        let wd = inotify_add_watch(fd, dir, Self.mask)
        if wd >= 0 { watches.withLock { $0[wd] = dir } }
        for name in FileSystem.list(dir) where !name.hasPrefix(".") {
            let path = dir + "/" + name
            if FileSystem.isDirectory(path) { addTree(path) }
        }
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    /// Starts the reading thread.
    public func start() {
        let thread = Thread { [self] in loop() }
        thread.start()
    }

    private func loop() {
        let bufferSize = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 8)
        defer { buffer.deallocate() }
        while !stopped.load(ordering: .relaxed) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, 200)
            if r <= 0 { continue }
            var changed = false
            while true {
                let n = read(fd, buffer, bufferSize)
                if n <= 0 { break }
                var offset = 0
                while offset < n {
                    let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                    let nameLength = Int(event.len)
                    var name = ""
                    if nameLength > 0 {
                        let bytes = UnsafeRawBufferPointer(
                            start: buffer + offset + MemoryLayout<inotify_event>.size, count: nameLength)
                        name = String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    if event.mask & UInt32(IN_ISDIR) != 0, event.mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0,
                        let parent = watches.withLock({ $0[event.wd] }), !name.hasPrefix(".")
                    {
                        addTree(parent + "/" + name)
                    }
                    if event.mask & UInt32(IN_IGNORED) != 0 { _ = watches.withLock { $0.removeValue(forKey: event.wd) } }
                    changed = true
                    offset += MemoryLayout<inotify_event>.size + nameLength
                }
            }
            if changed { onChange() }
        }
    }
}
