// swift-tools-version:5.9
// The Swift package the iOS app depends on. `build-xcframework.sh` (macOS) fills
// `build/TaipeiCoreFFI.xcframework` and `Sources/TaipeiCore/TaipeiCore.swift`; neither
// is committed, both are generated from the same commit of bindings/.
//
// `TaipeiGlue` holds the glue that needs neither Apple-only frameworks nor the Rust
// library; on Linux only it is declared (SwiftPM has no XCFramework there), so
// `swift test` runs its tests wherever a Swift toolchain exists.
import PackageDescription

var targets: [Target] = [
    .target(name: "TaipeiGlue", path: "Sources/TaipeiGlue"),
    .testTarget(name: "TaipeiGlueTests", dependencies: ["TaipeiGlue"], path: "Tests/TaipeiGlueTests"),
]
var products: [Product] = [.library(name: "TaipeiGlue", targets: ["TaipeiGlue"])]
#if !os(Linux)
targets += [
    // The Rust static library with the C header and modulemap uniffi generates.
    .binaryTarget(name: "TaipeiCoreFFI", path: "build/TaipeiCoreFFI.xcframework"),
    // The generated Swift API (TaipeiCore.swift) plus the platform glue.
    .target(name: "TaipeiCore", dependencies: ["TaipeiCoreFFI", "TaipeiGlue"], path: "Sources/TaipeiCore"),
    .testTarget(name: "TaipeiCoreTests", dependencies: ["TaipeiCore"], path: "Tests/TaipeiCoreTests"),
]
products.append(.library(name: "TaipeiCore", targets: ["TaipeiCore"]))
#endif

let package = Package(
    name: "TaipeiCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: products,
    targets: targets
)
