"""The inner loop of multi-index hashing, compiled with numba: for each query hash, every bucket of a
piece within `radius` flips, every hash in it checked by popcount. At a million images and a distance of 8
this is some 700 million table probes and 300 million checks: numpy would have to hold them all as arrays,
a compiled loop streams them (several times faster; bench/duplicates.py times it)."""

from __future__ import annotations

import numpy as np

import numba


def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


def _scan(a, b, same, max_distance, shifts, bits, radius, piece, spa, order_a, order_b, starts, flips, chunks, out,
          used):
    """Pairs found through one piece (those an earlier piece finds too are left to it), the queries cut into
    `chunks` runs, each writing into its own row of out (2 x capacity); used[c] = how many it found (more
    than the capacity: the row overflowed and holds only the first ones)."""
    n = spa.shape[0]
    cap = out.shape[2]
    for c in numba.prange(chunks):
        pos = 0
        # flips outside, queries inside: a and b come sorted by this piece, so one flip of a run of queries
        # reads buckets that lie together (the table read in order, not at random: a tenth quicker)
        for f in range(flips.shape[0]):
            for qi in range(c * n // chunks, (c + 1) * n // chunks):
                ai = a[qi]
                v = spa[qi] ^ flips[f]
                if same and v < spa[qi]:  # each pair once: from the one whose piece is smaller (half the probes),
                    continue              # or, in one bucket, from the first of the two
                for k in range(starts[v], starts[v + 1]):
                    if same and k <= qi:
                        continue
                    x = ai ^ b[k]
                    if _popcount(x) > max_distance:
                        continue
                    first = True  # an earlier piece within radius finds this pair itself
                    for p in range(piece):
                        m = (np.uint64(1) << np.uint64(bits[p])) - np.uint64(1)
                        if _popcount((x >> np.uint64(shifts[p])) & m) <= radius:
                            first = False
                            break
                    if not first:
                        continue
                    if pos < cap:
                        i, j = order_a[qi], order_b[k]
                        out[c, 0, pos] = min(i, j) if same else i
                        out[c, 1, pos] = max(i, j) if same else j
                    pos += 1
        used[c] = pos


def _counting_order(values, buckets):
    """The stable sort order of small non-negative integers and each bucket's start (a counting sort: one
    pass to count, one to place; argsort's comparison sort took a third of the search at 1M)."""
    starts = np.zeros(buckets + 1, dtype=np.int64)
    for v in values:
        starts[v + 1] += 1
    for k in range(buckets):
        starts[k + 1] += starts[k]
    fill = starts[:-1].copy()
    order = np.empty(values.shape[0], dtype=np.int64)
    for i in range(values.shape[0]):
        v = values[i]
        order[fill[v]] = i
        fill[v] += 1
    return order, starts


_counting_order = numba.njit(cache=True, nogil=True)(_counting_order)
_popcount = numba.njit(inline="always", cache=True)(_popcount)
_scan = numba.njit(parallel=True, cache=True, nogil=True)(_scan)


def hash_pairs_compiled(a: np.ndarray, b: np.ndarray, same: bool, max_distance: int,
                        pieces: list[tuple[int, int]], flip_masks) -> np.ndarray:
    """All pairs (i, j) with popcount(a[i] ^ b[j]) <= max_distance (i < j when same), each once."""
    radius = max_distance // len(pieces)
    shifts = np.array([s for s, _ in pieces], dtype=np.int64)
    bits = np.array([w for _, w in pieces], dtype=np.int64)
    found = []
    for p, (shift, width) in enumerate(pieces):
        mask = np.uint64((1 << width) - 1)
        pb = ((b >> np.uint64(shift)) & mask).astype(np.int64)
        order_b, starts = _counting_order(pb, 1 << width)
        if same:
            order_a, spa = order_b, pb[order_b]
        else:
            pa = ((a >> np.uint64(shift)) & mask).astype(np.int64)
            order_a = _counting_order(pa, 1 << width)[0]
            spa = pa[order_a]
        flips = flip_masks(width, radius).astype(np.int32)
        order_a, order_b, spa = order_a.astype(np.int32), order_b.astype(np.int32), spa.astype(np.int32)
        starts = starts.astype(np.int32)
        chunks = 64
        cap = max(4096, 2 * len(spa) // chunks)
        while True:
            out = np.zeros((chunks, 2, cap), dtype=np.int32)
            used = np.zeros(chunks, dtype=np.int64)
            _scan(a[order_a], b[order_b], same, max_distance, shifts, bits, radius, p, spa, order_a, order_b, starts, flips,
                  chunks, out, used)
            if used.max() <= cap:
                break
            cap = int(used.max())  # a crowded run: once more with room for it
        found.extend(out[c, :, :used[c]].T.astype(np.int64) for c in range(chunks) if used[c])
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
