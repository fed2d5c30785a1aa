"""Colour, edge and texture measurements of a working image (the spec's classification features)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

HUE_BINS = 12  # 30-degree bins: red, orange, yellow, chartreuse, green, spring, cyan, azure, blue, violet, magenta, rose


@dataclass(frozen=True)
class Features:
    """What classification and placeholder detection read from one image. All values are plain floats."""

    aspect_ratio: float          # width / height of the full image
    brightness: float            # mean V, 0..1
    contrast: float              # std of V, 0..~0.5
    saturation: float            # mean S, 0..1
    colourfulness: float         # Hasler-Suesstrunk, scaled to ~0..1
    edge_score: float            # mean gradient magnitude, 0..1
    edge_density: float          # share of pixels on a strong edge
    straight_edges: float        # share of strong edges that run horizontal or vertical
    texture: float               # local detail: mean absolute Laplacian, 0..1
    smooth_share: float          # pixels with almost no local change (rendered gradients, plain areas)
    fine_detail: float           # median local change: photos keep some everywhere, renders do not
    entropy: float               # grey-level histogram entropy / 8
    dark_share: float            # V < 0.2
    bright_share: float          # V > 0.85
    grey_share: float            # S < 0.12
    skin_share: float            # YCbCr skin tones
    green_share: float
    blue_share: float
    warm_share: float            # reds, oranges and yellows with some saturation
    sky_top: float               # blue or bright-grey share in the top third
    green_bottom: float          # green share in the bottom half
    background_share: float      # share of pixels in the most common colour (quantised)
    background_brightness: float  # V of that colour
    border_uniformity: float     # 1 - std of the border pixels (1 = plain frame)
    colour_count: float          # distinct quantised colours / 512
    centre_focus: float          # edge energy in the centre vs the whole
    hue_hist: tuple[float, ...]  # saturated-pixel hue distribution over HUE_BINS

    def vector(self) -> dict[str, float]:
        """Named scalar features, including one per hue bin, for the classifier."""
        out = {k: float(v) for k, v in asdict(self).items() if k != "hue_hist"}
        out["log_aspect"] = float(np.log(max(self.aspect_ratio, 1e-3)))
        for i, v in enumerate(self.hue_hist):
            out[f"hue_{i}"] = float(v)
        return out


def _gradients(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        zero = np.zeros_like(grey)
        return zero, zero
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gy[1:-1, :] = grey[2:, :] - grey[:-2, :]
    return gx * 0.5, gy * 0.5


def _share(mask: np.ndarray, n: float) -> float:
    """The share of True in a boolean array (count_nonzero: several times faster than .mean())."""
    return float(np.count_nonzero(mask) / n)


def _mean_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation in one pass over the data (float64 sums)."""
    n = x.size
    total = float(np.sum(x, dtype=np.float64))
    mean = total / n
    sq = float(np.dot(x.ravel().astype(np.float64), x.ravel().astype(np.float64))) / n
    return mean, float(np.sqrt(max(0.0, sq - mean * mean)))


FEATURE_SIZE = 96  # colour and edge statistics need no more pixels than this


def extract_features(image: Image.Image, aspect_ratio: float | None = None) -> Features:
    """Measure an RGB working image (a few hundred px), on a copy of at most FEATURE_SIZE px.
    `aspect_ratio` is the full image's, if known."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if aspect_ratio is None:
        aspect_ratio = image.width / max(image.height, 1)
    longest = max(image.size)
    if longest > FEATURE_SIZE:  # an integer box reduction: cheap, and it keeps colour statistics
        image = image.reduce(-(-longest // FEATURE_SIZE))
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    hsv = np.asarray(image.convert("HSV"), dtype=np.float32) / 255.0
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    height, width = v.shape
    n = float(v.size)
    v_mean, v_std = _mean_std(v)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)

    gx, gy = _gradients(grey)
    mag = np.hypot(gx, gy)
    strong = mag > 0.08
    n_strong = float(strong.sum())
    if n_strong:
        ax, ay = np.abs(gx[strong]), np.abs(gy[strong])
        straight = float(((ax > 3 * ay) | (ay > 3 * ax)).sum()) / n_strong
    else:
        straight = 0.0
    if height >= 3 and width >= 3:
        lap = np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])
        texture = float(min(1.0, lap.mean() * 4))
    else:
        texture = 0.0

    hist = np.bincount(np.clip((grey * 255).astype(np.int32), 0, 255).ravel(), minlength=256) / n
    nz = hist[hist > 0]
    entropy = float(-(nz * np.log2(nz)).sum() / 8.0)

    chroma = (s > 0.2) & (v > 0.15)
    hue_idx = np.minimum((h * HUE_BINS).astype(np.int32), HUE_BINS - 1)
    hue_hist = np.bincount(hue_idx[chroma].ravel(), minlength=HUE_BINS) / n

    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    (rg_mean, rg_std), (yb_mean, yb_std) = _mean_std(rg), _mean_std(yb)
    colourfulness = float(np.hypot(rg_std, yb_std) + 0.3 * np.hypot(rg_mean, yb_mean))

    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 0.5 + (b - y) * 0.564
    cr = 0.5 + (r - y) * 0.713
    skin = (cb > 77 / 255) & (cb < 127 / 255) & (cr > 133 / 255) & (cr < 173 / 255) & (v > 0.2)

    deg = h * 360.0
    green = chroma & (deg >= 70) & (deg < 170)
    blue = chroma & (deg >= 180) & (deg < 260)
    warm = chroma & ((deg < 60) | (deg >= 330))
    top = slice(0, max(1, height // 3))
    sky = (blue | ((s < 0.15) & (v > 0.7)))[top]
    bottom = green[height // 2:] if height >= 2 else green

    quant = (np.asarray(image, dtype=np.uint8) >> 5).astype(np.int32)
    codes = (quant[..., 0] << 6) | (quant[..., 1] << 3) | quant[..., 2]
    counts = np.bincount(codes.ravel(), minlength=512)
    top_code = int(counts.argmax())
    bg_mask = codes == top_code
    background_brightness = float(v[bg_mask].mean()) if bg_mask.any() else 0.0

    border = np.concatenate([grey[0, :], grey[-1, :], grey[:, 0], grey[:, -1]])
    if height >= 4 and width >= 4:
        ch, cw = height // 4, width // 4
        centre = float(mag[ch:height - ch, cw:width - cw].mean())
        centre_focus = centre / (float(mag.mean()) + 1e-6)
    else:
        centre_focus = 1.0

    return Features(
        aspect_ratio=float(aspect_ratio if aspect_ratio else width / max(height, 1)),
        brightness=v_mean,
        contrast=v_std,
        saturation=float(s.mean()),
        colourfulness=min(1.0, colourfulness),
        edge_score=float(min(1.0, mag.mean() * 4)),
        edge_density=float(n_strong / n),
        straight_edges=straight,
        texture=texture,
        smooth_share=_share(mag < 0.004, n),
        fine_detail=float(min(1.0, np.partition(mag.ravel(), mag.size // 2)[mag.size // 2] * 20)),
        entropy=entropy,
        dark_share=_share(v < 0.2, n),
        bright_share=_share(v > 0.85, n),
        grey_share=_share(s < 0.12, n),
        skin_share=_share(skin, n),
        green_share=_share(green, n),
        blue_share=_share(blue, n),
        warm_share=_share(warm, n),
        sky_top=_share(sky, sky.size) if sky.size else 0.0,
        green_bottom=_share(bottom, bottom.size) if bottom.size else 0.0,
        background_share=float(counts[top_code] / n),
        background_brightness=background_brightness,
        border_uniformity=float(max(0.0, 1.0 - border.std() * 4)),
        colour_count=float((counts > max(1, n * 0.001)).sum() / 512.0),
        centre_focus=float(min(3.0, centre_focus)),
        hue_hist=tuple(float(x) for x in hue_hist),
    )
