// swift-tools-version: 6.2
import PackageDescription

// `CALLARCHIVE_INSTRUMENT=address` compiles this package's own targets with AddressSanitizer, `=fuzzer` with
// libFuzzer's coverage and AddressSanitizer (and CallArchiveFuzz with its libFuzzer driver), and links every product
// with the sanitizer's runtime. Dependencies are compiled as in an ordinary debug build: CI's sanitized test build
// costs little more than a debug build, and the fuzzing build then compiles only our modules again (.ci/sanitizers,
// .ci/fuzz). Their code is not what those runs test; libsndfile and libFLAC were never instrumented either.
let instrument = Context.environment["CALLARCHIVE_INSTRUMENT"] ?? ""
let sanitizers: String? =
    switch instrument {
    case "address": "address"
    case "fuzzer": "fuzzer,address"
    default: nil
    }
let instrumented: [SwiftSetting] = sanitizers.map { [.unsafeFlags(["-sanitize=\($0)"])] } ?? []
let instrumentedLink: [LinkerSetting] = sanitizers.map { [.unsafeFlags(["-sanitize=\($0)"])] } ?? []

// Our targets compile with warnings as errors (dependencies are not affected).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
] + instrumented

let package = Package(
    name: "call-archive",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "callarchived", targets: ["CallArchiveDaemon"]),
        .executable(name: "callarchive", targets: ["CallArchiveCLI"]),
        .executable(name: "callarchive-bench", targets: ["CallArchiveBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(
            url: "https://github.com/apple/swift-configuration", from: "1.4.0",
            traits: [.defaults, "YAML", "Logging"]),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries from Debian (libsndfile1-dev, libflac-dev).
        .systemLibrary(
            name: "CSndFile", pkgConfig: "sndfile",
            providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "CFLAC", pkgConfig: "flac",
            providers: [.apt(["libflac-dev"])]),
        // Thin, safe Swift owners of the C handles; no domain knowledge.
        .target(
            name: "SndFile", dependencies: ["CSndFile", "CFLAC"], swiftSettings: strict,
            linkerSettings: instrumentedLink),
        // What a client of the archive shares with it: the operator API's wire types and error codes, the JSON
        // and time formats, the audit log's entry format and verification, key files, durable file writing.
        // No GRDB, NIO, libsndfile or libFLAC: the CLI and the client depend on this alone.
        .target(
            name: "CallArchiveAPI",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            // Every product links this module, the CLI without SndFile: the sanitizer runtime comes with it.
            swiftSettings: strict, linkerSettings: instrumentedLink),
        // The domain: spool, ingest, store, index, configuration, services.
        .target(
            name: "CallArchive",
            dependencies: [
                "CallArchiveAPI", "SndFile",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The operator API's OpenAPI document: read by OpenAPIDocumentTests from the source tree.
            exclude: ["API/openapi.yaml"],
            swiftSettings: strict),
        // The operator API's transport: HTTP/1.1 on a Unix socket (SwiftNIO), kept out of CallArchive so that the
        // fuzz build stays small.
        .target(
            name: "CallArchiveServer",
            dependencies: [
                "CallArchive",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // The socket client of the operator API (used by the CLI).
        .target(
            name: "CallArchiveClient",
            dependencies: [
                "CallArchiveAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "CallArchiveDaemon",
            dependencies: [
                "CallArchive", "CallArchiveServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "CallArchiveCLI",
            dependencies: [
                "CallArchiveAPI", "CallArchiveClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Benchmarks against sox/flac/xz (never timed tests): `.ci/bench`.
        .executableTarget(
            name: "CallArchiveBenchmark",
            dependencies: [
                "CallArchive", "CallArchiveTesting", "CallArchiveClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // libFuzzer targets for the parsers of spool input: `.ci/fuzz`. libFuzzer's driver is declared in
        // CLibFuzzer and called only when built with -sanitize=fuzzer -DCALLARCHIVE_FUZZING; otherwise the
        // binary replays input files.
        .systemLibrary(name: "CLibFuzzer"),
        .executableTarget(
            name: "CallArchiveFuzz", dependencies: ["CallArchive", "CLibFuzzer"],
            swiftSettings: strict + (instrument == "fuzzer" ? [.define("CALLARCHIVE_FUZZING")] : [])),
        // Test support: corpus generation, temp dirs, launching the built binaries.
        .target(
            name: "CallArchiveTesting",
            dependencies: [
                "CallArchive", "SndFile", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Where tests run (threads of their own, away from Swift's cooperative pool), so that every test shares one
        // `swift test`: Sources/CallArchiveTestLanes/TestLanes.swift.
        .target(name: "CallArchiveTestLanes", swiftSettings: strict),
        .testTarget(name: "SndFileTests", dependencies: ["SndFile", "CallArchiveTesting"], swiftSettings: strict),
        .testTarget(
            name: "CallArchiveTests",
            dependencies: [
                "CallArchive", "CallArchiveTesting", "SndFile", "CallArchiveFuzz",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["FuzzRegressions"],
            swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "CallArchive", "CallArchiveTesting", "CallArchiveTestLanes", "SndFile",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "CallArchiveServerTests",
            dependencies: [
                "CallArchiveServer", "CallArchiveClient", "CallArchive", "CallArchiveTesting", "CallArchiveTestLanes",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
    ]
)
