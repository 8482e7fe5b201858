// swift-tools-version: 6.2
import PackageDescription

// Three small programs to copy from, each self-driving: it runs briefly and
// exits 0 when ThreadKill did what the example shows (scripts/examples.sh runs
// them in CI). A nested package, so that the core keeps zero dependencies.
let package = Package(
    name: "ThreadKillExamples",
    dependencies: [
        .package(name: "ThreadKill", path: ".."),
        .package(name: "ThreadKillIntegrations", path: "../Integrations"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // A stand-in for a third-party C library: a parser that crashes on bad
        // input, and a lookup that blocks. C11, clean under -Wall -Wextra.
        .target(name: "CExampleLibrary"),
        // A server whose worker threads block in accept() and stop on SIGTERM under a ServiceGroup.
        .executableTarget(
            name: "EchoServer",
            dependencies: [
                .product(name: "ThreadKill", package: "ThreadKill"),
                .product(name: "ThreadKillLogging", package: "ThreadKillIntegrations"),
                .product(name: "ThreadKillServiceLifecycle", package: "ThreadKillIntegrations"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A job runner that isolates a crashing C call in an IsolatedProcess.
        .executableTarget(
            name: "JobRunner",
            dependencies: [.product(name: "ThreadKill", package: "ThreadKill"), "CExampleLibrary"]
        ),
        // An async request handler whose blocking C call is cancelled by a task timeout.
        .executableTarget(
            name: "AsyncHandler",
            dependencies: [.product(name: "ThreadKill", package: "ThreadKill"), "CExampleLibrary"]
        ),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11
)
