// swift-tools-version: 6.2
import PackageDescription

// ThreadKill's integrations with the Swift server ecosystem, in a package of
// their own so that the core (the package one level up) keeps zero package
// dependencies: a program that uses only the ThreadKill product never
// resolves swift-log or swift-service-lifecycle (Docs/Dependencies.md,
// Docs/Integrations.md).
let package = Package(
    name: "ThreadKillIntegrations",
    products: [
        .library(name: "ThreadKillLogging", targets: ["ThreadKillLogging"]),
        .library(name: "ThreadKillServiceLifecycle", targets: ["ThreadKillServiceLifecycle"]),
    ],
    dependencies: [
        .package(name: "ThreadKill", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Forwards ThreadKill's kill events to a swift-log Logger the program passes in.
        .target(
            name: "ThreadKillLogging",
            dependencies: [
                .product(name: "ThreadKill", package: "ThreadKill"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A ServiceLifecycle Service that runs a body on a killable thread.
        .target(
            name: "ThreadKillServiceLifecycle",
            dependencies: [
                .product(name: "ThreadKill", package: "ThreadKill"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ThreadKillIntegrationsTests",
            dependencies: [
                "ThreadKillLogging",
                "ThreadKillServiceLifecycle",
                .product(name: "ThreadKill", package: "ThreadKill"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
