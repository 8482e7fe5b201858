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
        .target(
            name: "ThreadKill",
            dependencies: ["CPthreadShim"]
        ),
        .executableTarget(
            name: "threadkill",
            dependencies: [
                "ThreadKill",
                "CPthreadShim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "ThreadKillFixtures", dependencies: ["ThreadKill"]),
        .testTarget(
            name: "ThreadKillTests",
            dependencies: ["ThreadKill", "CPthreadShim", "ThreadKillFixtures"]
        ),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11
)
