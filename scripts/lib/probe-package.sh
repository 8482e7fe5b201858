# Sourced by the measuring scripts: a throwaway package that depends on this
# checkout and builds one executable, `probe`, from the main.swift the
# script writes to "$work/Sources/probe/main.swift".
#   probe_package_init REPO   sets $work (removed on exit) and writes Package.swift
#   probe_package_build       release build of the probe: "$work/.build/release/probe"
probe_package_init() {
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/Sources/probe"
    cat > "$work/Package.swift" <<SWIFT
// swift-tools-version: 6.0
import PackageDescription
let package = Package(name: "probe", dependencies: [.package(name: "ThreadKill", path: "$1")],
    targets: [.executableTarget(name: "probe", dependencies: [.product(name: "ThreadKill", package: "ThreadKill")])])
SWIFT
}
probe_package_build() {
    (cd "$work" && swift build -c release >/dev/null)
}
