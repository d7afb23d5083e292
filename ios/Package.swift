// swift-tools-version:5.9
// The Swift package the iOS app depends on. `build-xcframework.sh` (macOS) fills
// `build/TaipeiCoreFFI.xcframework` and `Sources/TaipeiCore/TaipeiCore.swift`; neither
// is committed, both are generated from the same commit of bindings/.
import PackageDescription

let package = Package(
    name: "TaipeiCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "TaipeiCore", targets: ["TaipeiCore"]),
    ],
    targets: [
        // The Rust static library with the C header and modulemap uniffi generates.
        .binaryTarget(name: "TaipeiCoreFFI", path: "build/TaipeiCoreFFI.xcframework"),
        // The generated Swift API (TaipeiCore.swift) plus the thin platform glue.
        .target(name: "TaipeiCore", dependencies: ["TaipeiCoreFFI"], path: "Sources/TaipeiCore"),
        .testTarget(name: "TaipeiCoreTests", dependencies: ["TaipeiCore"], path: "Tests/TaipeiCoreTests"),
    ]
)
