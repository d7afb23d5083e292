#!/usr/bin/env bash
# QR decoder comparison: the core (through `taipei qr decode --json`) against zxing-cpp
# on the same generated camera frames, in one run. A benchmark, not a test: it prints
# success rate, false positives, median and p95 time per frame size.
#
#   tools/qrbench/run.sh [--count N] [--seed S] [--sizes WxH,...] [extra bench.py args, e.g.
#                         --variant "no-upscale=--without upscale" --variant "plain=--plain-rqrr"]
#
# Python packages (zxing-cpp, numpy, pillow) go into a venv under target/, never into
# the repository. Frames are regenerated when the seed or count changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=150 seed=1 sizes=640x480,1280x720
while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    *) break ;;
  esac
done
venv=target/qrbench-venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
$venv/bin/pip install --quiet zxing-cpp==3.1.1 numpy pillow
# The profile the apps ship (release: opt-level "z", LTO): what a phone runs.
cargo build --quiet --release -p taipei-cli
frames=target/qrbench-frames/seed${seed}-n${count}
[[ $sizes == 640x480,1280x720 ]] || frames+=-${sizes//,/-}
if [[ ! -f $frames/manifest.json ]]; then
  $venv/bin/python tools/qrbench/gen_frames.py "$frames" --count "$count" --seed "$seed" --sizes "$sizes"
fi
exec $venv/bin/python tools/qrbench/bench.py "$frames" target/release/taipei "$@"
