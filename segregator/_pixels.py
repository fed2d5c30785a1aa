"""The pixel check's inner loops (duplicates.py), compiled with numba: each thumbnail's border crops resized
back and turned into unit rows in one pass (crop_units), and, for each pair of images and each pairing of
their crops, the correlation over the share of pixels where the two agree best (trimmed_best). numpy needs
a partition and a dozen temporaries of N x 2304 per crop pairing; this loop keeps one row per thread and
stops at the first pairing that is good enough (duplicates.py calls it on the look-alikes of a collection:
a store of product shots on white holds hundreds of thousands of such pairs)."""

from __future__ import annotations

import numpy as np

import numba


def _trimmed_best(unit_a, raw_a, unit_b, ia, ib, combos, k, min_spread, enough, best):
    """best[p] = max(best[p], trimmed correlation of unit_a[ia[p], ca] and unit_b[ib[p], cb]) over the
    (ca, cb) of combos, in order, until best[p] >= enough; the correlation counts only where the pixels kept
    (of raw_a's crop ca, grey levels) vary by min_spread (std)."""
    n = ia.shape[0]
    width = unit_a.shape[2]
    for p in numba.prange(n):
        d = np.empty(width, dtype=np.float32)
        for c in range(combos.shape[0]):
            if best[p] >= enough:
                break
            x = unit_a[ia[p], combos[c, 0]]
            y = unit_b[ib[p], combos[c, 1]]
            raw = raw_a[ia[p], combos[c, 0]]
            for j in range(width):
                d[j] = abs(x[j] - y[j])
            kth = np.partition(d, k)[k]
            count, sx, sy, sr, srr = 0, 0.0, 0.0, 0.0, 0.0
            for j in range(width):
                if d[j] <= kth:
                    count += 1
                    sx += x[j]
                    sy += y[j]
                    sr += raw[j]
                    srr += raw[j] * raw[j]
            mx, my = sx / count, sy / count
            sxy, sxx, syy = 0.0, 0.0, 0.0
            for j in range(width):
                if d[j] <= kth:
                    u, v = x[j] - mx, y[j] - my
                    sxy += u * v
                    sxx += u * u
                    syy += v * v
            spread = np.sqrt(max(srr / count - (sr / count) ** 2, 0.0))
            r = sxy / np.sqrt(sxx * syy + 1e-12) if spread >= min_spread else 0.0
            if r > best[p]:
                best[p] = r


_trimmed_best = numba.njit(parallel=True, cache=True, nogil=True)(_trimmed_best)


def trimmed_best(unit_a: np.ndarray, raw_a: np.ndarray, unit_b: np.ndarray, ia: np.ndarray, ib: np.ndarray,
                 combos, keep: float, min_spread: float, enough: float = np.inf,
                 best: np.ndarray | None = None) -> np.ndarray:
    """unit_a, raw_a: (U, C, D) float32 unit rows and grey levels of U images' crops; unit_b (V, C, D); pairs
    (ia[p], ib[p]). Returns the best trimmed correlation of each pair over the crop pairings `combos`."""
    width = unit_a.shape[2]
    k = min(width - 1, int(round(keep * (width - 1))))
    out = np.full(len(ia), -np.inf, dtype=np.float64) if best is None else np.asarray(best, dtype=np.float64).copy()
    if len(ia):
        _trimmed_best(np.ascontiguousarray(unit_a, dtype=np.float32), np.ascontiguousarray(raw_a, dtype=np.float32),
                      np.ascontiguousarray(unit_b, dtype=np.float32), np.asarray(ia, dtype=np.int64),
                      np.asarray(ib, dtype=np.int64), np.asarray(combos, dtype=np.int64).reshape(-1, 2), k,
                      float(min_spread), float(enough), out)
    return out


FLAT = 1e-3  # grey levels (std): a crop that varies less is flat (its unit row 0, not rounding noise)


def _crop_units(thumbs, index, weight, plain, rows, unit, raw, want_raw):
    """For each grey thumbnail (S x S uint8) and each crop k: the crop resized back to S x S (index/weight:
    the few source pixels and their weights of each output row and column, source offsets included),
    its first `rows` rows as one vector less its mean, divided by its norm into unit (0 for a flat one:
    one whose grey levels vary by less than FLAT, the rounding of the resampling), and the grey levels
    into raw when want_raw."""
    n, size = thumbs.shape[0], thumbs.shape[1]
    crops, taps = index.shape[0], index.shape[2]
    for p in numba.prange(n):
        across = np.empty((size, size), dtype=np.float64)
        out = np.empty(rows * size, dtype=np.float64)
        for k in range(crops):
            total = 0.0
            if plain[k]:  # no crop: the pixels themselves
                for i in range(rows):
                    for j in range(size):
                        out[i * size + j] = thumbs[p, i, j]
                        total += thumbs[p, i, j]
            else:
                for y in range(size):
                    for j in range(size):
                        s = 0.0
                        for t in range(taps):
                            s += weight[k, j, t] * thumbs[p, y, index[k, j, t]]
                        across[y, j] = s
                for i in range(rows):
                    for j in range(size):
                        s = 0.0
                        for t in range(taps):
                            s += weight[k, i, t] * across[index[k, i, t], j]
                        out[i * size + j] = s
                        total += s
            if want_raw:
                for q in range(rows * size):
                    raw[p, k, q] = out[q]
            mean = total / (rows * size)
            sq = 0.0
            for q in range(rows * size):
                v = out[q] - mean
                sq += v * v
            norm = np.sqrt(sq)
            flat = norm <= FLAT * np.sqrt(rows * size)
            for q in range(rows * size):
                unit[p, k, q] = 0.0 if flat else (out[q] - mean) / norm


_crop_units = numba.njit(parallel=True, cache=True, nogil=True)(_crop_units)


def _bands(size: int, crops: tuple[float, ...], resize_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Each crop's resampling as (index, weight): C x S x taps source pixels (offsets included) and weights."""
    mats = []
    for c in crops:
        d = max(1, round(size * c)) if c else 0
        mats.append((d, resize_matrix(size - 2 * d, size)))
    taps = max(int((r > 0).sum(axis=1).max()) for _, r in mats)
    index = np.zeros((len(crops), size, taps), dtype=np.int64)
    weight = np.zeros((len(crops), size, taps), dtype=np.float32)
    for k, (d, r) in enumerate(mats):
        for i in range(size):
            nz = np.nonzero(r[i] > 0)[0]
            index[k, i, :len(nz)], weight[k, i, :len(nz)] = nz + d, r[i, nz]
    return index, weight


_BANDS: dict = {}


def crop_units(thumbs: np.ndarray, crops: tuple[float, ...], resize_matrix, rows: int | None = None,
               want_raw: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(N x C x rows*S unit rows of each thumbnail's crops (the first `rows` rows of each; all by default),
    their grey levels or None): the resampling and duplicates._unit_rows in one pass."""
    thumbs = np.ascontiguousarray(thumbs, dtype=np.uint8)
    n, size = len(thumbs), thumbs.shape[1]
    rows = size if rows is None else rows
    key = (size, crops)
    if key not in _BANDS:
        _BANDS[key] = _bands(size, crops, resize_matrix)
    index, weight = _BANDS[key]
    unit = np.empty((n, len(crops), rows * size), dtype=np.float32)
    raw = np.empty((n, len(crops), rows * size) if want_raw else (1, 1, 1), dtype=np.float32)
    if n:
        _crop_units(thumbs, index, weight, np.array([not c for c in crops]), rows, unit, raw, want_raw)
    return unit, (raw if want_raw else None)
