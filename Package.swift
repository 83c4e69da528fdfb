// swift-tools-version:6.1
import PackageDescription
import Foundation

// CACHEKIT_FUZZ=1 builds the libFuzzer harness, which links the ABI layer into an executable:
// the shared-library linker flags (static runtime, version script, soname) are left out then.
let fuzzing = ProcessInfo.processInfo.environment["CACHEKIT_FUZZ"] != nil

// Absolute path of this package, for the linker version script below.
let packageRoot = String(#filePath.dropLast("Package.swift".count))

let strictSwift: [SwiftSetting] = [
    .enableExperimentalFeature("CImplementation"),
    .unsafeFlags(["-warnings-as-errors"]),
]

let package = Package(
    name: "cachekit",
    products: [
        // libcachekit.so: the C ABI. The Swift runtime is linked statically so hosts need no
        // toolchain, and the version script exports only the `cachekit_*` functions of the header.
        .library(name: "cachekit", type: .dynamic, targets: ["CachekitABI"]),
        .executable(name: "cachekit-cli", targets: ["cachekit-cli"]),
    ],
    dependencies: [
        // The CLI's argument parsing only; no library target depends on it, so the .so is unchanged.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries (Debian -dev packages), found through pkg-config.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CBlake2", pkgConfig: "libb2", providers: [.apt(["libb2-dev"])]),
        .systemLibrary(name: "CSSL", pkgConfig: "libssl", providers: [.apt(["libssl-dev"])]),

        // The public header as a Clang module, so the compiler holds the exports to it.
        .systemLibrary(name: "CCachekitHeader"),
        // C shims: what Swift cannot declare itself (thread-local storage, a load-time fork handler).
        .target(name: "CCachekitShims"),

        // Pure Swift core: knows nothing about C callers.
        .target(
            name: "CachekitCore",
            dependencies: ["CLZ4", "CXXHash", "CCrypto", "CBlake2"],
            swiftSettings: strictSwift
        ),
        // The Redis client: URL grammar, TCP/unix/TLS transport with deadlines, RESP through
        // hiredis's reader and formatter, pool, breaker, backpressure, Sentinel. The only target
        // that speaks to Redis (and, with the core's crypto, the only one linking libssl).
        .target(
            name: "CachekitRedis",
            dependencies: ["CachekitCore", "CHiredis", "CSSL", "CCrypto", "CCachekitShims"],
            swiftSettings: strictSwift
        ),
        // Thin ABI layer: converts and validates arguments, calls the core, maps errors.
        .target(
            name: "CachekitABI",
            dependencies: ["CachekitCore", "CachekitRedis", "CCachekitHeader", "CCachekitShims"],
            exclude: ["exports.map"],
            swiftSettings: strictSwift,
            linkerSettings: fuzzing ? [] : [
                .unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "-soname=libcachekit.so.0",
                    "-Xlinker", "--version-script=\(packageRoot)Sources/CachekitABI/exports.map",
                ]),
            ]
        ),

        // The operator CLI: reads, writes and inspects cache entries in a Redis (the library's client).
        .executableTarget(
            name: "cachekit-cli",
            dependencies: [
                "CachekitCore", "CachekitRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),

        .testTarget(name: "CachekitCoreTests", dependencies: ["CachekitCore"]),
        .testTarget(name: "CachekitRedisTests", dependencies: ["CachekitRedis", "CachekitCore"]),
        // Every Swift status against its CACHEKIT_E_* macro in the header.
        .testTarget(name: "CachekitABITests", dependencies: ["CachekitCore", "CCachekitHeader"]),

        // Benchmark helper: the L1 hit ratio against LRU and Belady (run by bench/bench_cache.c).
        .executableTarget(name: "cachekit-bench-l1", dependencies: ["CachekitCore"], path: "bench/l1-hit-ratio"),
        ] + (fuzzing ? [
        // libFuzzer harness over the exported functions: scripts/fuzz.sh.
        .executableTarget(
            name: "cachekit-fuzz",
            dependencies: ["CachekitABI", "CachekitCore", "CachekitRedis", "CCachekitHeader"],
            swiftSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-parse-as-library"])]
        ),
    ] : [])
)
