// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "ThreadKill",
    products: [
        .library(name: "ThreadKill", targets: ["ThreadKill"]),
        .executable(name: "threadkill", targets: ["threadkill"]),
    ],
    // No package dependencies: a package that uses the ThreadKill product
    // resolves ThreadKill and nothing else (Docs/Dependencies.md). Tools that
    // need other packages go in nested packages of their own.
    targets: [
        .target(
            name: "CPthreadShim",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // The raw C latency floor that `threadkill latency` measures ThreadKill
        // against, in the same run. Used by the CLI only. C11, clean under -Wall -Wextra.
        .target(
            name: "CLatencyFloor",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "ThreadKill",
            dependencies: ["CPthreadShim"]
        ),
        // The stress engine: a library so that the CLI and the tests share it.
        // Not a product; it depends on ThreadKill (and its shim, for pipe2)
        // and on its own C leaf for cancellable calls.
        .target(
            name: "ThreadKillStress",
            dependencies: ["ThreadKill", "CPthreadShim", "CThreadKillStress"]
        ),
        .target(name: "CThreadKillStress"),
        .executableTarget(
            name: "threadkill",
            dependencies: [
                "ThreadKill",
                "ThreadKillStress",
                "CLatencyFloor",
            ]
        ),
        // Test-only C helpers (callbacks with and without a frame) for the
        // safety-check tests and fixtures. Not a product; never shipped.
        .target(
            name: "CThreadKillTestSupport",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // What the fixture program and the tests share, written once: the
        // isolated jobs' names and Codable types, /proc readers. Not a product.
        .target(name: "ThreadKillTestSupport", dependencies: ["ThreadKill", "CPthreadShim", "ThreadKillStress"]),
        .executableTarget(
            name: "ThreadKillFixtures",
            dependencies: ["ThreadKill", "CPthreadShim", "CThreadKillTestSupport", "ThreadKillTestSupport", "ThreadKillStress"]
        ),
        .testTarget(
            name: "ThreadKillTests",
            dependencies: [
                "ThreadKill", "CPthreadShim", "CThreadKillTestSupport", "ThreadKillTestSupport",
                "ThreadKillFixtures", "ThreadKillStress", "threadkill",
            ]
        ),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11
)
