// swift-tools-version: 6.1
import PackageDescription

// ThreadKill's benchmarks, in a package of their own so that the core (the
// package one level up) keeps zero package dependencies: a program that uses
// the ThreadKill product never resolves ordo-one/benchmark (Docs/Dependencies.md,
// Docs/Benchmarks.md).
//
//     cd Benchmarks && swift package --disable-sandbox benchmark
//
// Every figure of `threadkill latency` is measured twice in the same run: on
// ThreadKill and on the raw C floor. Both sides are the CLI's own code:
// `Benchmarks/ThreadKillBenchmarks/Latency*.swift` and `Sources/BenchmarkLatencyFloor`
// are symbolic links into the root package's sources, not copies.
let package = Package(
    name: "ThreadKillBenchmarks",
    dependencies: [
        .package(name: "ThreadKill", path: ".."),
        // The "MallocInterposer" trait alone: the default traits would also
        // enable the Swift runtime interposer, a dependency this project does not use.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The root package's C floor: a symbolic link to ../../Sources/CLatencyFloor.
        // Target names are unique across a package graph, hence another name;
        // its include/module.modulemap still names the module CLatencyFloor.
        .target(
            name: "BenchmarkLatencyFloor",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .executableTarget(
            name: "ThreadKillBenchmarks",
            dependencies: [
                .product(name: "ThreadKill", package: "ThreadKill"),
                .product(name: "Benchmark", package: "benchmark"),
                "BenchmarkLatencyFloor",
            ],
            path: "Benchmarks/ThreadKillBenchmarks"
        ),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11
)
