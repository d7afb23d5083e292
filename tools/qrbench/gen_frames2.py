"""A second, independent generator of camera frames, for reporting on frames the
engine was not tuned on. It shares nothing with gen_frames.py but the payload kinds:

- geometry: a printed sheet in 3D seen by a pinhole camera (tilt up to 45 degrees
  about a random axis, distance, focal length), rendered by inverse mapping every
  output pixel with 3x3 sub-samples (no PIL warps);
- print: ink spread or thin ink (modules grown or shrunk by up to 12%), grey ink on
  grey paper, paper fibre texture;
- light: a directional light with a cast shadow edge across the sheet, cos^4
  vignetting, specular glare (saturating), white-balance drift;
- lens: defocus as a disk kernel, plus motion blur along a random direction;
- sensor: shot (Poisson) plus read noise in linear light, sRGB-like gamma, the phone's
  sharpening (unsharp mask halos), colour JPEG with 4:2:0 chroma (quality 35-92),
  converted to luma the way the bench reads it;
- scenes: gradients of a room, desks with text lines, and things that fool finder
  searches in frames without a code (tables, calendars, tiled floors, barcodes).

Output: PNG frames + manifest.json {file: {text, kind, size, module_px}}, as
gen_frames.py, so bench.py runs on either. Deterministic for a given --seed.

usage: python gen_frames2.py OUTDIR [--count N] [--seed S] [--sizes WxH,...]
"""

import io
import math
import random

import numpy as np
import zxingcpp
from PIL import Image

from gen_frames import frame_args, payload, save_frame, write_manifest


def rot(axis, angle):
    """Rodrigues rotation matrix about a unit axis."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]], float)
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def camera_homography(rng, w, h, side_px_wanted):
    """Homography from sheet coordinates (units: the code's side = 1, centred) to
    frame pixels, through a pinhole camera looking at a tilted plane."""
    f = max(w, h) * rng.uniform(0.8, 1.4)  # focal length in pixels (wide to normal)
    tilt = math.radians(min(45.0, abs(rng.gauss(0, 22))))
    phi = rng.uniform(0, 2 * math.pi)
    axis = (math.cos(phi), math.sin(phi), 0.0)
    spin = rng.uniform(-math.pi, math.pi) if rng.random() < 0.25 else rng.gauss(0, 0.2)
    r = rot(axis, tilt) @ rot((0, 0, 1), spin)
    z = f / side_px_wanted  # distance at which the code spans about the wanted size
    # Where in the frame the code's centre lands (kept well inside).
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    t = np.array([(cx - w / 2) * z / f, (cy - h / 2) * z / f, z])
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], float)
    # Plane points (u, v, 0): columns r1, r2 and t.
    return k @ np.column_stack([r[:, 0], r[:, 1], t]), math.degrees(tilt)


def render_sheet(rng, mods, quiet, hmat, w, h, ink, paper, spread):
    """Reflectance of the frame: the sheet (code + quiet zone + paper margin) over the
    scene, by inverse mapping with 3x3 sub-samples per pixel into a texture of the
    printed code (16 texels a module, the ink grown or shrunk there by `spread`
    modules). Returns (refl, on_sheet)."""
    n = mods.shape[0]
    total = n + 2 * quiet
    t = 16
    dark = np.kron(mods, np.ones((t, t), bool))
    grow = int(round(abs(spread) * t))
    if grow:
        pad = np.pad(dark, grow, constant_values=False)
        acc = np.zeros_like(dark) if spread > 0 else np.ones_like(dark)
        for dy in range(-grow, grow + 1):
            for dx in range(-grow, grow + 1):
                shifted = pad[grow + dy:grow + dy + dark.shape[0], grow + dx:grow + dx + dark.shape[1]]
                acc = acc | shifted if spread > 0 else acc & shifted
        dark = acc
    size = dark.shape[0]
    inv = np.linalg.inv(hmat)
    sub = (np.arange(3) + 0.5) / 3
    acc = np.zeros((h, w), np.float32)
    cover = np.zeros((h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for sy in sub:
        for sx in sub:
            px, py = xs + sx, ys + sy
            q = inv[0, 0] * px + inv[0, 1] * py + inv[0, 2]
            r = inv[1, 0] * px + inv[1, 1] * py + inv[1, 2]
            s = inv[2, 0] * px + inv[2, 1] * py + inv[2, 2]
            s = np.where(np.abs(s) < 1e-12, 1e-12, s)
            u, v = q / s, r / s  # -0.5..0.5 across the code with its quiet zone
            tu = np.floor(((u + 0.5) * total - quiet) * t).astype(np.int64)
            tv = np.floor(((v + 0.5) * total - quiet) * t).astype(np.int64)
            inside = (tu >= 0) & (tv >= 0) & (tu < size) & (tv < size)
            m = np.zeros(u.shape, bool)
            m[inside] = dark[tv[inside], tu[inside]]
            on = (s > 0) & (np.abs(u) < 0.5 + 0.6) & (np.abs(v) < 0.5 + 0.8)
            acc += np.where(on, np.where(m, ink, paper), 0)
            cover += on
    return acc / 9, cover / 9


def scene(rng, w, h, with_code):
    """Reflectance of the scene behind the sheet (0..1)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0.2, 0.7) + 0.15 * np.sin(xs / w * rng.uniform(1, 4) + rng.uniform(0, 6)) * np.cos(ys / h * rng.uniform(1, 3))
    a = np.clip(base, 0.02, 0.95)
    kind = rng.choice(["desk", "table", "tiles", "barcode", "calendar"] if not with_code else ["desk", "desk", "table", "tiles"])
    if kind == "desk":
        # Wood-like streaks and lines of text.
        a *= 1 + 0.08 * np.sin(ys * rng.uniform(0.05, 0.3) + 3 * np.sin(xs * 0.01))
        for _ in range(rng.randint(2, 8)):
            x, y, size = rng.uniform(0, w * 0.7), rng.uniform(0, h), rng.uniform(5, 16)
            for _ in range(rng.randint(8, 40)):
                cw = size * rng.uniform(0.4, 0.9)
                a[int(y):int(y + size), int(x):int(x + cw)] *= rng.uniform(0.1, 0.4)
                x += size * rng.uniform(0.9, 1.4)
    elif kind in ("table", "calendar"):
        cell = rng.uniform(12, 60)
        thick = max(1, int(cell * rng.uniform(0.05, 0.15)))
        for x in np.arange(rng.uniform(0, cell), w, cell):
            a[:, int(x):int(x) + thick] *= 0.2
        for y in np.arange(rng.uniform(0, cell), h, cell * rng.uniform(0.5, 1.0)):
            a[int(y):int(y) + thick, :] *= 0.2
        if kind == "calendar":  # filled days: dark squares in some cells
            for _ in range(rng.randint(5, 20)):
                x, y = rng.uniform(0, w - cell), rng.uniform(0, h - cell)
                s = cell * 0.3
                a[int(y + s):int(y + 2 * s), int(x + s):int(x + 2 * s)] *= 0.15
    elif kind == "tiles":
        s = rng.uniform(6, 30)
        chk = ((xs // s + ys // s) % 2).astype(np.float32)
        a *= 0.6 + 0.4 * chk
    else:  # 1D barcodes: bar widths 1..4 units
        unit = rng.uniform(1.5, 5)
        x0, y0 = int(rng.uniform(0, w * 0.5)), int(rng.uniform(0, h * 0.6))
        x = x0
        while x < min(w, x0 + 95 * unit * 2):
            bw = rng.randint(1, 4) * unit
            a[y0:y0 + int(h * 0.3), int(x):int(x + bw)] *= 0.1
            x += bw + rng.randint(1, 4) * unit
    return np.clip(a, 0.01, 1.0)


def optics_and_sensor(rng, refl, w, h, glare_at):
    """Light, lens, sensor and the phone's processing: reflectance to 8-bit luma."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    light = np.full((h, w), rng.uniform(0.6, 1.0), np.float32)
    # A cast shadow: a soft edge across the frame, the far side darker.
    if rng.random() < 0.4:
        ang = rng.uniform(0, 2 * math.pi)
        d = (xs - w * rng.uniform(0.3, 0.7)) * math.cos(ang) + (ys - h * rng.uniform(0.3, 0.7)) * math.sin(ang)
        softness = rng.uniform(2, 40)
        light *= 1 - rng.uniform(0.4, 0.85) / (1 + np.exp(np.clip(-d / softness, -60, 60)))
    # Directional light: a linear falloff.
    ang = rng.uniform(0, 2 * math.pi)
    light *= 1 - rng.uniform(0, 0.5) * (0.5 + 0.5 * ((xs / w - 0.5) * math.cos(ang) + (ys / h - 0.5) * math.sin(ang)) * 2).clip(0, 1)
    # Vignetting (cos^4 of the field angle).
    f = max(w, h)
    r2 = ((xs - w / 2) ** 2 + (ys - h / 2) ** 2) / (f * f)
    light *= (1 / (1 + r2)) ** 2
    lin = refl * light
    # Specular glare: adds light whatever the ink, and saturates.
    if glare_at is not None and rng.random() < 0.35:
        (gx, gy), size = glare_at
        gx += rng.uniform(-0.5, 0.5) * size
        gy += rng.uniform(-0.5, 0.5) * size
        rad = size * rng.uniform(0.05, 0.3)
        lin = lin + rng.uniform(0.3, 1.2) * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * rad * rad))
    # Lens: defocus (disk) then motion, done in the frequency domain.
    def blur(img, kernel):
        kh, kw = kernel.shape
        pad = np.zeros((h, w), np.float32)
        pad[:kh, :kw] = kernel
        pad = np.roll(pad, (-(kh // 2), -(kw // 2)), (0, 1))
        return np.real(np.fft.ifft2(np.fft.fft2(img) * np.fft.fft2(pad))).astype(np.float32)
    radius = rng.choice([0, 0.6, 1.0, 1.5, 2.2])
    if radius:
        k = int(math.ceil(radius)) * 2 + 1
        yy, xx = np.mgrid[0:k, 0:k] - k // 2
        disk = np.clip(radius + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
        lin = blur(lin, disk / disk.sum())
    if rng.random() < 0.3:
        length = rng.uniform(1.5, 5)
        ang = rng.uniform(0, math.pi)
        k = int(math.ceil(length)) * 2 + 1
        kernel = np.zeros((k, k), np.float32)
        for t in np.linspace(-length / 2, length / 2, 16):
            kernel[int(round(k // 2 + t * math.sin(ang))), int(round(k // 2 + t * math.cos(ang)))] += 1
        lin = blur(lin, kernel / kernel.sum())
    # Sensor: exposure to electrons, shot noise, read noise.
    full_well = rng.uniform(300, 3000)  # small sensors in dim rooms are noisy
    gen = np.random.default_rng(rng.getrandbits(32))
    electrons = gen.poisson(np.clip(lin, 0, 1.5) * full_well).astype(np.float32)
    electrons += gen.normal(0, rng.uniform(1, 6), (h, w))
    lin = np.clip(electrons / full_well, 0, 1)
    # Tone curve, then the phone's sharpening (halos at edges).
    out = 255 * lin ** (1 / 2.2)
    if rng.random() < 0.6:
        k = np.ones((3, 3), np.float32) / 9
        out = out + rng.uniform(0.3, 1.2) * (out - blur(out, k))
    out = np.clip(out, 0, 255).astype(np.uint8)
    # Colour JPEG with chroma subsampling: a slight colour cast, as white balance leaves.
    tint = np.array([rng.uniform(0.9, 1.1), 1.0, rng.uniform(0.85, 1.1)], np.float32)
    rgb = np.clip(out[..., None].astype(np.float32) * tint, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=rng.randint(35, 92), subsampling=2)
    return Image.open(io.BytesIO(buf.getvalue())).convert("L")


def main():
    args, sizes, rng = frame_args(100, 101)
    manifest = {}
    for (w, h) in sizes:
        for i in range(args.count):
            name = f"{w}x{h}_{i:04d}.png"
            with_code = rng.random() >= 0.2
            refl = scene(rng, w, h, with_code)
            text, kind, module, glare_at, tilt = None, "none", None, None, None
            if with_code:
                kind, text, ec = payload(rng)
                code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=ec)
                mods = np.array(code.to_image(scale=1, add_quiet_zones=False)) < 128
                quiet = rng.choice([2, 3, 4, 4, 6])
                total = mods.shape[0] + 2 * quiet
                # Module size (at the code's centre) from 2 px to as large as fits.
                lo, hi = 2.0, max(2.2, 0.8 * min(w, h) / total)
                module = math.exp(rng.uniform(math.log(lo), math.log(hi)))
                hmat, tilt = camera_homography(rng, w, h, module * total)
                ink, paper = rng.uniform(0.03, 0.25), rng.uniform(0.6, 0.92)
                spread = rng.uniform(-0.12, 0.12)
                sheet, cover = render_sheet(rng, mods, quiet, hmat, w, h, ink, paper, spread)
                # Paper fibre.
                gen = np.random.default_rng(rng.getrandbits(32))
                sheet *= 1 + 0.04 * gen.standard_normal((h, w)).astype(np.float32) * cover
                refl = refl * (1 - cover) + sheet
                c = hmat @ np.array([0, 0, 1.0])
                e = hmat @ np.array([0.5, 0, 1.0])
                centre = (c[0] / c[2], c[1] / c[2])
                glare_at = (centre, 2 * math.dist(centre, (e[0] / e[2], e[1] / e[2])))
                kind += f"-tilt{int(tilt)}"
            img = optics_and_sensor(rng, refl, w, h, glare_at)
            save_frame(rng, args.out, manifest, name, img, text, kind, module, 0.05)
    write_manifest(args.out, manifest)


if __name__ == "__main__":
    main()
