"""Generate realistic camera frames holding QR codes (and frames holding none).

Each frame imitates what a phone camera sees: a code printed or shown on a lighter
"paper" (with its quiet zone), lying in a textured scene, seen at some scale, rotation
and perspective, then degraded by blur, sensor noise, uneven light, glare and JPEG
compression; a few codes are light-on-dark. Payloads are the kinds the apps scan:
a login frame (prefix + digits), a certificate-size code (prefix + base45, ~450
characters) and a 1 KB payload. Frame sizes: 640x480 and 1280x720.

The codes are drawn by zxing-cpp's writer, so the encoder under test (ours) is not
the one making the test data. Output: PNG frames + manifest.json {file: expected text
or null}. Deterministic for a given --seed.

usage: python gen_frames.py OUTDIR [--count N] [--seed S] [--sizes WxH,...]
"""

import argparse
import io
import json
import math
import os
import random

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def base45(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += [B45[c], B45[d], B45[e]]
    if len(data) % 2:
        n = data[-1]
        out += [B45[n % 45], B45[n // 45]]
    return "".join(out)


def base10(data: bytes) -> str:
    digits = [0, 3, 5, 8, 10, 13, 15]
    out = []
    for i in range(0, len(data), 7):
        chunk = data[i:i + 7]
        v = int.from_bytes(chunk, "little")
        n = 17 if len(chunk) == 7 else digits[len(chunk)]
        out.append(str(v).zfill(n))
    return "".join(out)


def payload(rng: random.Random):
    kind = rng.choices(["login", "cert", "1k"], weights=[5, 3, 2])[0]
    raw = lambda n: bytes(rng.getrandbits(8) for _ in range(n))
    if kind == "login":
        return kind, "TPL1:" + base10(raw(32)), rng.choice(["M", "Q"])
    if kind == "cert":
        return kind, "TPC1:" + base45(raw(300)), rng.choice(["L", "M", "Q"])
    return kind, "TPC1:" + base45(raw(680)), rng.choice(["L", "M"])


def solve_homography(src, dst):
    """Coefficients PIL's PERSPECTIVE transform wants: maps output (dst) to input (src)."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return np.linalg.solve(np.array(a, float), np.array(b, float)).tolist()


def background(rng, w, h):
    """A scene: smooth light variation, a few objects, lines of 'text'."""
    small = np.array([[rng.uniform(60, 230) for _ in range(8)] for _ in range(6)], np.uint8)
    bg = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    d = ImageDraw.Draw(bg)
    for _ in range(rng.randint(3, 12)):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        x1, y1 = x0 + rng.uniform(20, w / 3), y0 + rng.uniform(20, h / 3)
        d.rectangle([x0, y0, x1, y1], fill=rng.randint(20, 240))
    for _ in range(rng.randint(0, 6)):  # lines of text-like marks
        x, y = rng.uniform(0, w * 0.7), rng.uniform(0, h)
        size = rng.uniform(4, 14)
        for _ in range(rng.randint(5, 30)):
            d.rectangle([x, y, x + size * rng.uniform(0.3, 1), y + size], fill=rng.randint(0, 80))
            x += size * 1.2
    return bg


def distractors(rng, img):
    """Things that look a little like QR parts: checkerboards, lone finder-like squares."""
    w, h = img.size
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(1, 4)):
        s = rng.uniform(3, 10)
        x0, y0 = rng.uniform(0, w - 20 * s), rng.uniform(0, h - 20 * s)
        if rng.random() < 0.5:
            for i in range(12):
                for j in range(12):
                    if (i + j) % 2 == 0 or rng.random() < 0.3:
                        d.rectangle([x0 + i * s, y0 + j * s, x0 + (i + 1) * s, y0 + (j + 1) * s], fill=20)
        else:  # one finder-pattern-like target: 7/5/3 concentric squares
            for k, col in [(0, 20), (1, 235), (2, 20)]:
                d.rectangle([x0 + k * s, y0 + k * s, x0 + (7 - k) * s, y0 + (7 - k) * s], fill=col)


def place_code(rng, frame, text, ec, w, h):
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=ec)
    mods = np.array(code.to_image(scale=1, add_quiet_zones=False)) < 128
    n = mods.shape[0]
    quiet = 4
    total = n + 2 * quiet
    # Module size in output pixels: small codes (far away) up to large ones.
    max_module = 0.92 * min(w, h) / (total * 1.25)
    min_module = 1.6 if w <= 640 else 1.8
    if max_module < min_module:
        max_module = min_module
    module = math.exp(rng.uniform(math.log(min_module), math.log(max(min_module, max_module))))
    side = total * module
    # Rotation: mostly held about upright, sometimes anything.
    r = rng.random()
    angle = rng.gauss(0, 10) if r < 0.7 else (rng.uniform(0, 360) if r < 0.9 else rng.choice([90, 180, 270]) + rng.gauss(0, 3))
    cx = rng.uniform(side * 0.6, w - side * 0.6) if w > side * 1.2 else w / 2
    cy = rng.uniform(side * 0.6, h - side * 0.6) if h > side * 1.2 else h / 2
    persp = rng.uniform(0, 0.12)
    corners = []
    for ux, uy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
        jx, jy = rng.uniform(-persp, persp), rng.uniform(-persp, persp)
        px, py = (ux + jx) * side / 2, (uy + jy) * side / 2
        a = math.radians(angle)
        corners.append((cx + px * math.cos(a) - py * math.sin(a), cy + px * math.sin(a) + py * math.cos(a)))
    # Render the code at 8 px per module and warp it onto a 2x canvas, then shrink:
    # the shrink averages like a camera's pixels instead of point-sampling.
    ss = 2
    scale = 8
    dark, light = rng.randint(5, 90), rng.randint(150, 250)
    code_img = np.full((total * scale, total * scale), light, np.uint8)
    big = np.kron(mods, np.ones((scale, scale), bool))
    code_img[quiet * scale:(quiet + n) * scale, quiet * scale:(quiet + n) * scale][big] = dark
    src = [(0, 0), (total * scale, 0), (total * scale, total * scale), (0, total * scale)]
    dst = [(x * ss, y * ss) for x, y in corners]
    coeffs = solve_homography(src, dst)
    size = (w * ss, h * ss)
    warped = Image.fromarray(code_img).transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR, fillcolor=0)
    mask = Image.fromarray(np.full(code_img.shape, 255, np.uint8)).transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR, fillcolor=0)
    canvas = frame.resize(size, Image.BILINEAR)
    canvas.paste(warped, (0, 0), mask)
    return canvas.resize((w, h), Image.BOX), corners, module


def degrade(rng, img, code_box):
    w, h = img.size
    a = np.asarray(img, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Uneven light: a tilted gradient, sometimes a vignette.
    g = rng.uniform(0, 0.6)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = ((xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang)) + 0.5
    a *= 1 - g * np.clip(ramp, 0, 1)
    if rng.random() < 0.3:
        r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
        a *= 1 - rng.uniform(0.2, 0.8) * r2 * 2
    # Glare: a bright soft spot, often on the code.
    if rng.random() < 0.3:
        (cx, cy), size = code_box
        gx, gy = cx + rng.uniform(-0.4, 0.4) * size, cy + rng.uniform(-0.4, 0.4) * size
        rad = size * rng.uniform(0.08, 0.25)
        a += rng.uniform(60, 160) * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * rad * rad))
    a = np.clip(a, 0, 255)
    out = Image.fromarray(a.astype(np.uint8))
    blur = rng.choice([0, 0, 0.5, 0.8, 1.0, 1.4, 1.8])
    if blur:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    a = np.asarray(out, np.float32) + np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 9), (h, w))
    out = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=rng.randint(40, 90))
        out = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return out


def frame_args(count, seed):
    """The generators' command line: OUTDIR --count --seed --sizes. Creates OUTDIR."""
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=count, help="frames per size")
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--sizes", default="640x480,1280x720", help="frame sizes, e.g. 4032x3024 for phone photos")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    os.makedirs(args.out, exist_ok=True)
    return args, sizes, random.Random(args.seed)


def main():
    args, sizes, rng = frame_args(150, 1)
    manifest = {}
    for (w, h) in sizes:
        for i in range(args.count):
            name = f"{w}x{h}_{i:04d}.png"
            frame = background(rng, w, h)
            distractors(rng, frame)
            if rng.random() < 0.15:
                kind, text, module = "none", None, None
                box = ((w / 2, h / 2), min(w, h) / 2)
            else:
                kind, text, ec = payload(rng)
                frame, corners, module = place_code(rng, frame, text, ec, w, h)
                cx = sum(c[0] for c in corners) / 4
                cy = sum(c[1] for c in corners) / 4
                box = ((cx, cy), math.dist(corners[0], corners[1]))
            img = degrade(rng, frame, box)
            save_frame(rng, args.out, manifest, name, img, text, kind, module, 0.06)
    write_manifest(args.out, manifest)


def save_frame(rng, out, manifest, name, img, text, kind, module, inverted_share):
    """Writes one frame (light-on-dark for a share of the codes) and its manifest entry."""
    if text is not None and rng.random() < inverted_share:
        img = Image.fromarray(255 - np.asarray(img))
        kind += "-inverted"
    img.save(os.path.join(out, name))
    manifest[name] = {"text": text, "kind": kind, "size": f"{img.width}x{img.height}",
                      "module_px": None if module is None else round(module, 2)}


def write_manifest(out, manifest):
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=0)
    print(f"{len(manifest)} frames in {out}")


if __name__ == "__main__":
    main()
