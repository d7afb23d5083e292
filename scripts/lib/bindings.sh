# Shared helpers for the scripts that build the FFI library and generate or test its
# foreign-language code. Source it; it defines functions and a few paths, nothing more.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CACHE_DIR="$ROOT/.cache"
KOTLIN_HOME="$CACHE_DIR/kotlin/node_modules/kotlin-compiler"
KOTLINC="$KOTLIN_HOME/bin/kotlinc"
JNA_JAR="/usr/share/java/jna.jar"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# kotlinc from npm: the package carries the whole JVM compiler and the runtime jars
# (stdlib, coroutines, kotlin-test), so one install gives both compile and run classpaths.
ensure_kotlinc() {
    if [[ -x "$KOTLINC" ]]; then return; fi
    command -v npm >/dev/null || die "npm is needed to install kotlin-compiler"
    log "installing kotlin-compiler into $CACHE_DIR/kotlin"
    mkdir -p "$CACHE_DIR/kotlin"
    npm install --silent --no-audit --no-fund --prefix "$CACHE_DIR/kotlin" kotlin-compiler >&2
    [[ -x "$KOTLINC" ]] || die "kotlin-compiler installed but $KOTLINC is missing"
}

# JNA is what the generated Kotlin loads the library through; Debian packages it.
ensure_jna() {
    if [[ -f "$JNA_JAR" ]]; then return; fi
    command -v apt-get >/dev/null || die "$JNA_JAR is missing and apt-get is unavailable: install JNA 5.x"
    log "installing libjna-java"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjna-java >&2
    [[ -f "$JNA_JAR" ]] || die "libjna-java installed but $JNA_JAR is missing"
}

# SQLite for the libraries the apps ship: rusqlite's bundled build turns on full-text
# search (FTS3/FTS5), R*Tree, DBSTAT, STAT4 and SOUNDEX, which no query here uses; off,
# they are about 0.3 MB of the library. scripts/app-bindings and scripts/ffi-size build
# with it; so must cargo ndk and ios/build-xcframework.sh (see bindings/README.md).
APP_SQLITE_FLAGS="-USQLITE_ENABLE_FTS3 -USQLITE_ENABLE_FTS3_PARENTHESIS -USQLITE_ENABLE_FTS5 -USQLITE_ENABLE_RTREE -USQLITE_ENABLE_DBSTAT_VTAB -USQLITE_ENABLE_STAT4 -USQLITE_SOUNDEX"

# Build the FFI library. $1 = profile (debug|release); FFI_FEATURES = cargo feature flags.
#
# The built library is copied into a directory of its own per profile and feature set
# (target/ffi/debug-test-hooks, target/ffi/release, ...), and the foreign code is
# generated from that copy and loaded from it. A later `cargo build` of another
# feature set rewrites target/debug/libtaipei_ffi.so, but never these copies, so the
# generated code and the library it was generated from stay a pair.
FFI_FEATURES=()
build_ffi() {
    local profile="$1" flags=() variant="$1"
    [[ $profile == release ]] && flags+=(--release)
    [[ ${#FFI_FEATURES[@]} -gt 0 ]] && variant+="-$(printf '%s' "${FFI_FEATURES[*]}" | sed 's/--features //g; s/--//g; s/[^A-Za-z0-9]\+/-/g')"
    log "building taipei-ffi ($profile ${FFI_FEATURES[*]})"
    (cd "$ROOT" && cargo build -p taipei-ffi --lib "${flags[@]}" "${FFI_FEATURES[@]}" >&2)
    local built="$TARGET_DIR/$profile/libtaipei_ffi.so"
    [[ -f "$built" ]] || die "cargo finished but $built is missing"
    FFI_LIB_DIR="$TARGET_DIR/ffi/$variant"
    FFI_LIB="$FFI_LIB_DIR/libtaipei_ffi.so"
    mkdir -p "$FFI_LIB_DIR"
    cp "$built" "$FFI_LIB.tmp" && mv "$FFI_LIB.tmp" "$FFI_LIB"
}

# Generate bindings from the built library's metadata (library mode reads
# bindings/uniffi.toml). $1 = language, $2 = output dir (emptied first), $3 = the
# library to read (default $FFI_LIB). The library must keep its symbol table (uniffi
# reads its metadata from it): a debug build, or a release build made with
# CARGO_PROFILE_RELEASE_STRIP=false and stripped after (scripts/app-bindings).
#
# The output is stamped with the library's contract (stamp_contract): the foreign code
# then refuses, with a message naming both, to run against any other build.
generate_bindings() {
    local language="$1" out="$2" lib="${3:-$FFI_LIB}"
    rm -rf "$out"
    mkdir -p "$out"
    # The generator is always the same debug build (default features + bindgen): it
    # only reads the library's metadata, whatever that library's features, and an LTO
    # release build of uniffi-bindgen would cost minutes for nothing.
    (cd "$ROOT" && cargo build -q -p taipei-ffi --bin uniffi-bindgen --features bindgen >&2)
    log "generating $language bindings into $out"
    "$TARGET_DIR/debug/uniffi-bindgen" generate "$lib" --language "$language" \
        --out-dir "$out" --no-format >&2
    stamp_contract "$language" "$out" "$(library_contract "$lib")"
}

# The contract bindings/build.rs stamps into the library, read from the file itself:
# `taipei-ffi-contract:<version>:<build>:<interface digest>`.
library_contract() {
    local contract
    contract="$(LC_ALL=C grep -a -o 'taipei-ffi-contract:[0-9A-Za-z.+-]*:[a-z+-]*:[0-9a-f]\{16\}' "$1" | head -n1 || true)"
    [[ -n "$contract" ]] || die "$1 carries no taipei-ffi contract (not built from this source?)"
    printf '%s' "$contract"
}

# Writes the contract next to the generated code, with the glue that checks it. Kotlin:
# BindingsContract.kt (bindings/glue) and a call to BindingsContract.verify before the
# generated code binds any native function, so the first use of any binding checks;
# then CallbackThreads.install (the core's event thread kept attached and named), which
# must run before the callbacks' native entry points are made.
# Swift: the constant only; ios/Sources/TaipeiCore/BindingsContract.swift checks it.
stamp_contract() {
    local language="$1" out="$2" contract="$3"
    case "$language" in
        kotlin)
            local pkg="$out/tw/gov/taipei/core"
            local gen="$pkg/taipei_ffi.kt"
            cp "$ROOT/bindings/glue/kotlin/tw/gov/taipei/core/BindingsContract.kt" \
                "$ROOT/bindings/glue/kotlin/tw/gov/taipei/core/CallbackThreads.kt" "$pkg/"
            printf '%s\n' "package tw.gov.taipei.core" "" \
                "// Written by scripts/lib/bindings.sh: the library this code was generated from." \
                "internal const val GENERATED_CONTRACT = \"$contract\"" > "$pkg/BindingsContractStamp.kt"
            sed -i 's/^\( *\)\(Native\.register(\(UniffiLib\|IntegrityCheckingUniffiLib\)::class\.java, \(findLibraryName(componentName = "taipei_ffi")\))\)$/\1BindingsContract.verify(\4)\n\1CallbackThreads.install()\n\1\2/' "$gen"
            # Both objects that bind native functions must check first; a uniffi upgrade
            # that changes their shape must fail here, not ship unchecked code.
            [[ "$(grep -c '^ *BindingsContract\.verify(findLibraryName' "$gen")" == 2 ]] \
                || die "could not hook BindingsContract.verify into $gen (generated code changed shape?)"
            ;;
        swift)
            printf '%s\n' "// Written by scripts/lib/bindings.sh: the library this code was generated from." \
                "let generatedContract = \"$contract\"" > "$out/BindingsContractStamp.swift"
            ;;
        *) die "no contract stamp for $language" ;;
    esac
    log "stamped $language with $contract"
}

# A stable digest of files' contents and names, for caching compiled outputs.
digest_of() {
    find "$@" -type f \( -name '*.kt' -o -name '*.swift' \) -print0 | sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-16
}
