#!/usr/bin/env bash
# macOS only: builds the Rust library for iOS devices, the iOS simulator and the host
# Mac, generates the Swift bindings, and packages them as build/TaipeiCoreFFI.xcframework
# with the generated TaipeiCore.swift copied into Sources/TaipeiCore.
#
#   ios/build-xcframework.sh              release library for the app
#   ios/build-xcframework.sh --test-hooks adds the test-only exports `swift test` uses
#                                         (embedded reference server, panic trigger)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/bindings.sh"
[[ "$(uname)" == Darwin ]] || die "an XCFramework can only be built on macOS (xcodebuild)"

features=()
[[ "${1:-}" == --test-hooks ]] && features=(--features test-hooks)
targets=(aarch64-apple-ios aarch64-apple-ios-sim aarch64-apple-darwin)
for t in "${targets[@]}"; do
    rustup target add "$t" >/dev/null
    (cd "$ROOT" && LIBSQLITE3_FLAGS="$APP_SQLITE_FLAGS" cargo build -p taipei-ffi --lib --release --target "$t" "${features[@]}")
done

# Generate from the host build (same source, so the same metadata on every target).
FFI_LIB="$TARGET_DIR/aarch64-apple-darwin/release/libtaipei_ffi.dylib"
gen="$ROOT/bindings/generated/swift"
generate_bindings swift "$gen"

here="$ROOT/ios"
headers="$here/build/headers"
rm -rf "$here/build" && mkdir -p "$headers"
cp "$gen/TaipeiCoreFFI.h" "$headers/"
# Xcode looks for module.modulemap inside an XCFramework's headers.
cp "$gen/TaipeiCoreFFI.modulemap" "$headers/module.modulemap"
cp "$gen/TaipeiCore.swift" "$here/Sources/TaipeiCore/TaipeiCore.swift"
# The contract of the library generated from, checked by BindingsContract.swift.
cp "$gen/BindingsContractStamp.swift" "$here/Sources/TaipeiCore/BindingsContractStamp.swift"

args=()
for t in "${targets[@]}"; do
    args+=(-library "$TARGET_DIR/$t/release/libtaipei_ffi.a" -headers "$headers")
done
xcodebuild -create-xcframework "${args[@]}" -output "$here/build/TaipeiCoreFFI.xcframework"
log "built $here/build/TaipeiCoreFFI.xcframework"
