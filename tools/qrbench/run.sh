#!/usr/bin/env bash
# QR decoder comparison: the core (through `taipei qr decode --json`) against zxing-cpp
# on the same generated camera frames, in one run. A benchmark, not a test: it prints
# success rate, false positives, median and p95 time per frame size.
#
#   tools/qrbench/run.sh [--gen 1|2] [--count N] [--seed S] [--sizes WxH,...] [extra bench.py
#                         args, e.g. --variant "no-upscale=--without upscale" --variant "plain=--plain-rqrr"]
#
# --gen 2 uses the second, independent generator (gen_frames2.py: a camera and a printed
# sheet modelled differently); the engine is tuned on generator 1, reported on both.
#
# Python packages (zxing-cpp, numpy, pillow) go into a venv under target/, never into
# the repository. Frames are regenerated when the seed or count changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=150 seed=1 sizes=640x480,1280x720 gen=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
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
case $gen in
  1) generator=gen_frames.py frames=target/qrbench-frames/seed${seed}-n${count} ;;
  2) generator=gen_frames2.py frames=target/qrbench-frames/gen2-seed${seed}-n${count} ;;
  *) echo "--gen is 1 or 2" >&2; exit 2 ;;
esac
[[ $sizes == 640x480,1280x720 ]] || frames+=-${sizes//,/-}
if [[ ! -f $frames/manifest.json ]]; then
  $venv/bin/python tools/qrbench/$generator "$frames" --count "$count" --seed "$seed" --sizes "$sizes"
fi
exec $venv/bin/python tools/qrbench/bench.py "$frames" target/release/taipei "$@"
