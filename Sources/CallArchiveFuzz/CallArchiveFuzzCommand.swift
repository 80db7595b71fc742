import Foundation

#if CALLARCHIVE_FUZZING
import CLibFuzzer
#endif

/// `CallArchiveFuzz`: libFuzzer targets for the parsers of hostile spool input (`.ci/fuzz` builds and runs it).
///
///     CallArchiveFuzz TARGET [libFuzzer flags] [CORPUS_DIR...]   fuzz build: libFuzzer on TARGET
///     CallArchiveFuzz TARGET FILE|DIR...                          ordinary build: replay inputs, report failures
///     CallArchiveFuzz seeds TARGET DIR                            write the hand-written seed inputs into DIR
///     CallArchiveFuzz dict TARGET FILE                            write the libFuzzer dictionary
///
/// TARGET is `wav`, `detect`, `sidecar` or `filename` (see `FuzzTarget`). `CALLARCHIVE_FUZZ_TARGET` may name it
/// instead, and is set for child processes, since libFuzzer's `-fork` and `-minimize_crash` modes re-run
/// the binary with libFuzzer's own arguments only. The fuzz build is
/// `CALLARCHIVE_INSTRUMENT=fuzzer swift build --product CallArchiveFuzz` (`.ci/fuzz`, Package.swift);
/// there libFuzzer's `main` is unused (SwiftPM makes this `@main` the entry point) and this one calls
/// `LLVMFuzzerRunDriver`. Run it with `SWIFT_BACKTRACE=enable=no`, or a crash leaves no crash file.
@main
enum CallArchiveFuzzCommand {
    static func main() {
        #if DEBUG
        var args = Array(CommandLine.arguments.dropFirst())
        if let command = args.first, command == "seeds" || command == "dict" {
            guard args.count == 3, let target = FuzzTarget(rawValue: args[1]) else { usage() }
            exit(command == "seeds" ? writeSeeds(target, into: args[2]) : writeDictionary(target, to: args[2]))
        }
        let target: FuzzTarget
        if let first = args.first, let t = FuzzTarget(rawValue: first) {
            target = t
            args.removeFirst()
        } else if let name = ProcessInfo.processInfo.environment["CALLARCHIVE_FUZZ_TARGET"],
            let t = FuzzTarget(rawValue: name)
        {
            target = t
        } else {
            usage()
        }
        #if CALLARCHIVE_FUZZING
        setenv("CALLARCHIVE_FUZZ_TARGET", target.rawValue, 1)
        exit(runLibFuzzer(target, arguments: [CommandLine.arguments[0]] + args))
        #else
        exit(replay(target, paths: args))
        #endif
        #else
        FileHandle.standardError.write(
            Data("CallArchiveFuzz needs a debug build: it calls the parsers' internal entry points\n".utf8))
        exit(2)
        #endif
    }

    static func usage() -> Never {
        FileHandle.standardError.write(
            Data(
                """
                usage: CallArchiveFuzz TARGET [libFuzzer flags | FILE|DIR...]
                       CallArchiveFuzz seeds TARGET DIR
                       CallArchiveFuzz dict TARGET FILE
                TARGET: wav, detect, sidecar, filename (or CALLARCHIVE_FUZZ_TARGET)

                """.utf8))
        exit(2)
    }
}

#if DEBUG
extension CallArchiveFuzzCommand {
    /// Runs every file given (directories: every file in them, sorted) through `target`.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
        guard !paths.isEmpty else { usage() }
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("CallArchiveFuzz: no such file: \(path)\n".utf8))
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var failures = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            if let failure = target.run(Array(data)) {
                failures += 1
                print("FAIL \(file): \(failure)")
            }
        }
        print("\(target): replayed \(files.count) inputs, \(failures) failed")
        return failures == 0 ? 0 : 1
    }

    static func writeSeeds(_ target: FuzzTarget, into directory: String) -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (name, bytes) in FuzzSeeds.seeds(target) {
                try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("CallArchiveFuzz: \(error)\n".utf8))
            return 1
        }
    }

    static func writeDictionary(_ target: FuzzTarget, to path: String) -> Int32 {
        let text = FuzzSeeds.dictionary(target).map { "\"\($0)\"\n" }.joined()
        return FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) ? 0 : 1
    }
}
#endif

#if CALLARCHIVE_FUZZING
/// The target libFuzzer is driving. Written once, before `LLVMFuzzerRunDriver` starts; libFuzzer calls
/// back on the thread that started it, so there is no concurrent access.
nonisolated(unsafe) private var currentTarget = FuzzTarget.wav

private func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    if let failure = currentTarget.run(input) { fatalError("\(currentTarget): \(failure)") }
    return 0
}

/// Referenced by libFuzzer's own `main` in the fuzzer runtime, which the linker keeps but never runs.
@_cdecl("LLVMFuzzerTestOneInput")
func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzzOne(data, size) }

extension CallArchiveFuzzCommand {
    static func runLibFuzzer(_ target: FuzzTarget, arguments: [String]) -> Int32 {
        currentTarget = target
        // libFuzzer keeps argv for the whole run (and may re-execute it): these copies are never freed.
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
        for (i, a) in arguments.enumerated() { argv[i] = strdup(a) }
        argv[arguments.count] = nil
        var argc = Int32(arguments.count)
        var argvp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&argc, &argvp, fuzzOne)
    }
}
#endif
