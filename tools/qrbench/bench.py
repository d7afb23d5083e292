"""Run the core's decoder (through `taipei qr decode --json`) and zxing-cpp on the same
frames in one run, and print success rate, false positives, median and p95 time, and the median time on frames
without a code (what a camera loop pays most of the time).

Success: the expected text is among the texts read. False positive: any text that is
not the expected one (every text on a frame without a code). Times are per frame,
decode only (the CLI excludes file loading; zxing-cpp is timed around read_barcodes on
an already-loaded array), on one core: both decoders run single-threaded here.
With --repeat N both decoders go over the frames N times, taking turns, and each
frame's time is its fastest run: on a machine shared with other work, the fastest of
a few runs is the closest to the decoder's own cost, and taking turns gives both the
same share of the machine's load.

usage: python bench.py FRAMES_DIR TAIPEI_BIN [--repeat N] [--variant NAME=CLI_ARGS ...]
  e.g. --variant "no-upscale=--without upscale" --variant "plain=--plain-rqrr"
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np
import zxingcpp
from PIL import Image


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summarise(name, manifest, results):
    rows = []
    for size in sorted({m["size"] for m in manifest.values()}):
        files = [f for f, m in manifest.items() if m["size"] == size]
        with_code = [f for f in files if manifest[f]["text"] is not None]
        ok = sum(1 for f in with_code if manifest[f]["text"] in results[f][0])
        fp = sum(1 for f in files for t in results[f][0] if t != manifest[f]["text"])
        times = [results[f][1] for f in files]
        empty = [results[f][1] for f in files if manifest[f]["text"] is None]
        empty_ms = statistics.median(empty) if empty else float("nan")
        rows.append((name, size, ok, len(with_code), fp, statistics.median(times), pct(times, 95), empty_ms))
    return rows


def run_core(binary, frames, files, extra):
    paths = [os.path.join(frames, f) for f in files]
    out = subprocess.run([binary, "qr", "decode", "--json", *extra, *paths], capture_output=True, text=True)
    if out.returncode != 0 and not out.stdout:
        raise SystemExit(f"taipei qr decode failed: {out.stderr}")
    results = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        results[os.path.basename(r["path"])] = (r["texts"], r.get("us", 0) / 1000.0)
    return results


def run_zxing(frames, files):
    results = {}
    for f in files:
        img = np.asarray(Image.open(os.path.join(frames, f)).convert("L"))
        t0 = time.perf_counter_ns()
        found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
        ms = (time.perf_counter_ns() - t0) / 1e6
        results[f] = ([b.text for b in found], ms)
    return results


def fastest(runs):
    """Per frame, the texts (the same in every run: both decoders are deterministic)
    and the fastest time."""
    return {f: (runs[0][f][0], min(r[f][1] for r in runs)) for f in runs[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("frames")
    ap.add_argument("binary")
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--no-zxing", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs per decoder; each frame's fastest counts")
    args = ap.parse_args()
    with open(os.path.join(args.frames, "manifest.json")) as f:
        manifest = json.load(f)
    files = sorted(manifest)
    rows = []
    variants = [("core", [])] + [(v.split("=", 1)[0], v.split("=", 1)[1].split()) for v in args.variant]
    failures = {}
    core_runs = {name: [] for name, _ in variants}
    zx_runs = []
    for _ in range(max(1, args.repeat)):
        for name, extra in variants:
            core_runs[name].append(run_core(args.binary, args.frames, files, extra))
        if not args.no_zxing:
            zx_runs.append(run_zxing(args.frames, files))
    for name, _ in variants:
        res = fastest(core_runs[name])
        rows += summarise(name, manifest, res)
        if name == "core":
            failures["core"] = res
    if not args.no_zxing:
        zx = fastest(zx_runs)
        rows += summarise("zxing-cpp", manifest, zx)
        core = failures["core"]
        only_zx = [f for f in files if manifest[f]["text"] and manifest[f]["text"] in zx[f][0] and manifest[f]["text"] not in core[f][0]]
        only_core = [f for f in files if manifest[f]["text"] and manifest[f]["text"] in core[f][0] and manifest[f]["text"] not in zx[f][0]]
        print(f"read by zxing-cpp only: {len(only_zx)} {only_zx[:20]}")
        print(f"read by core only:      {len(only_core)} {only_core[:20]}")
    print(f"{'decoder':<16} {'frames':<9} {'success':>14} {'false pos':>9} {'median ms':>10} {'p95 ms':>8} {'no-code ms':>10}")
    for name, size, ok, n, fp, med, p95, empty in rows:
        print(f"{name:<16} {size:<9} {ok:>4}/{n:<4} {100 * ok / max(n, 1):5.1f}% {fp:>9} {med:>10.2f} {p95:>8.2f} {empty:>10.2f}")


if __name__ == "__main__":
    main()
