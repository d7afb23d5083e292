#!/usr/bin/env bash
# macOS only: builds the Rust library for iOS devices, the iOS simulator and the host
# Mac, generates the Swift bindings from it, and packages them as
# build/TaipeiCoreFFI.xcframework with the generated TaipeiCore.swift copied into
# Sources/TaipeiCore.
#
#   ios/build-xcframework.sh [taipei-on|taipei-pass]   release library for that app (default taipei-on)
#   ios/build-xcframework.sh --test-hooks              TaipeiON with the test-only exports `swift test`
#                                                      uses (embedded reference server, panic trigger)
#
# uniffi reads the interface from the library's symbols, and the release profile
# strips them: the libraries are built with their symbols (CARGO_PROFILE_RELEASE_STRIP=false),
# the Swift is generated from the host's dylib of that same build, and only then are
# the static libraries stripped of debug symbols (strip -S; a fully stripped archive
# could not be linked). So the code generated and the code shipped are one build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/bindings.sh"

features=()
case "${1:-taipei-on}" in
    taipei-on|taipei-pass) features=(--no-default-features --features "${1:-taipei-on}") ;;
    --test-hooks) features=(--features test-hooks) ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
esac
[[ "$(uname)" == Darwin ]] || die "an XCFramework can only be built on macOS (xcodebuild)"

targets=(aarch64-apple-ios aarch64-apple-ios-sim aarch64-apple-darwin)
for t in "${targets[@]}"; do
    rustup target add "$t" >/dev/null
    (cd "$ROOT" && CARGO_PROFILE_RELEASE_STRIP=false LIBSQLITE3_FLAGS="$APP_SQLITE_FLAGS" \
        cargo build -p taipei-ffi --lib --release --target "$t" "${features[@]}")
done

# Generate from the host build with its symbols (same source and features, so the same
# metadata on every target).
gen="$ROOT/bindings/generated/swift"
generate_bindings swift "$gen" "$TARGET_DIR/aarch64-apple-darwin/release/libtaipei_ffi.dylib"

here="$ROOT/ios"
headers="$here/build/headers"
rm -rf "$here/build" && mkdir -p "$headers" "$here/build/lib"
cp "$gen/TaipeiCoreFFI.h" "$headers/"
# Xcode looks for module.modulemap inside an XCFramework's headers.
cp "$gen/TaipeiCoreFFI.modulemap" "$headers/module.modulemap"
cp "$gen/TaipeiCore.swift" "$here/Sources/TaipeiCore/TaipeiCore.swift"
# The contract of the library generated from, checked by BindingsContract.swift.
cp "$gen/BindingsContractStamp.swift" "$here/Sources/TaipeiCore/BindingsContractStamp.swift"

args=()
for t in "${targets[@]}"; do
    mkdir -p "$here/build/lib/$t"
    stripped="$here/build/lib/$t/libtaipei_ffi.a"
    strip -S -o "$stripped" "$TARGET_DIR/$t/release/libtaipei_ffi.a"
    args+=(-library "$stripped" -headers "$headers")
done
xcodebuild -create-xcframework "${args[@]}" -output "$here/build/TaipeiCoreFFI.xcframework"
log "built $here/build/TaipeiCoreFFI.xcframework ($(library_contract "$TARGET_DIR/aarch64-apple-darwin/release/libtaipei_ffi.dylib"))"
