// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "ThreadKill",
    products: [
        .library(name: "ThreadKill", targets: ["ThreadKill"]),
        .executable(name: "threadkill", targets: ["threadkill"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
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
        // Not a product; it depends on ThreadKill (and its shim, for a foreign read) only.
        .target(
            name: "ThreadKillStress",
            dependencies: ["ThreadKill", "CPthreadShim"]
        ),
        .executableTarget(
            name: "threadkill",
            dependencies: [
                "ThreadKill",
                "CPthreadShim",
                "ThreadKillStress",
                "CLatencyFloor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "ThreadKillFixtures", dependencies: ["ThreadKill", "CPthreadShim"]),
        .testTarget(
            name: "ThreadKillTests",
            dependencies: ["ThreadKill", "CPthreadShim", "ThreadKillFixtures", "ThreadKillStress", "threadkill"]
        ),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11
)
