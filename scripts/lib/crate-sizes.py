"""Sizes of a built library's functions and data, summed per crate, from `nm -S -C`.

cargo-bloat refuses a package whose crate types include staticlib/lib next to cdylib (as
taipei-ffi's do), so scripts/ffi-size reads the unstripped library itself, the way
cargo-bloat does: a Rust symbol belongs to the crate its demangled path starts with
(`<a::T as b::Trait>::f` to `a`), a C symbol to the library its name prefix names.

    python3 scripts/lib/crate-sizes.py LIB [N]
"""

import re
import subprocess
import sys
from collections import Counter

C_PREFIXES = [
    ("sqlite3", "sqlite (C)"),
    ("fts", "sqlite (C)"),
    ("aFts", "sqlite (C)"),
    ("ring_", "ring (C/asm)"),
    ("ecp_nistz256", "ring (C/asm)"),
    ("__ecp_nistz256", "ring (C/asm)"),
    ("ffi_", "uniffi scaffolding"),
    ("uniffi_", "uniffi scaffolding"),
    ("UNIFFI_META", "uniffi metadata"),
]


def crate_of(name: str) -> str:
    name = name.lstrip("<&*").removeprefix("mut ").removeprefix("dyn ").removeprefix("impl ")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    if m:
        return m.group(1)
    for prefix, label in C_PREFIXES:
        if name.startswith(prefix):
            return label
    # What is left without a path is C, nearly all of it SQLite's static functions.
    return "[other C, mostly sqlite]" if "::" not in name and " " not in name else "[other]"


def main() -> None:
    lib = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    out = subprocess.run(["nm", "-S", "-C", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    sizes: Counter[str] = Counter()
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4 or parts[2].lower() not in "tdrbv":
            continue
        sizes[crate_of(parts[3])] += int(parts[1], 16)
    total = sum(sizes.values())
    print(f"{'crate':<28} {'bytes':>10}  share of symbols")
    for crate, size in sizes.most_common(top):
        print(f"{crate:<28} {size:>10}  {100 * size / total:5.1f} %")
    rest = total - sum(s for _, s in sizes.most_common(top))
    print(f"{'(the rest)':<28} {rest:>10}  {100 * rest / total:5.1f} %")
    print(f"{'all symbols':<28} {total:>10}")


if __name__ == "__main__":
    main()
