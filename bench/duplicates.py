"""Duplicates at collection scale: grouping N cached hashes (the near tier), against the brute-force
all-pairs comparison measured on a sample in the same run.

    python -m bench.duplicates                 # 1,000,000 images
    python -m bench.duplicates --count 100000

The collection: random 64-bit pHashes (and mirror / centre-crop hashes), with planted groups of 2-4 copies
whose hashes differ by 0-6 bits and whose thumbnails are noisy versions of one real photo's thumbnail; the
thumbnails live in a memory-mapped file, as in a real pass. Prints each phase's time and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from segregator import duplicates as dup

PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "photos"


def synthetic(count: int, groups: int, folder: str, seed: int = 1) -> tuple[dup.Collection, int]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, count, dtype=np.uint64) | (rng.integers(0, 2, count, dtype=np.uint64) << np.uint64(63))
    mirrored = rng.integers(0, 2**63, count, dtype=np.uint64)
    cropped = rng.integers(0, 2**63, count, dtype=np.uint64)
    path = Path(folder) / "thumbs.u8"
    photos = [np.asarray(Image.open(p).convert("L").resize((48, 48)), dtype=np.int16) for p in sorted(PHOTOS.glob("*.jpg"))]
    planted_thumbs: dict[int, np.ndarray] = {}
    planted = 0
    starts = rng.choice(count - 4, groups, replace=False)
    starts.sort()
    last = -1
    for g, s in enumerate(starts):
        if s <= last:
            continue
        size = int(rng.integers(2, 5))
        members = np.arange(s, min(s + size, count))
        last = members[-1]
        # each group its own picture: a real photo, shifted in tone and mixed with another, plus noise per copy
        base = (photos[g % len(photos)] * rng.uniform(0.6, 1.0) + photos[(g * 7 + 3) % len(photos)] * rng.uniform(0, 0.4)
                + rng.normal(0, 25, (48, 48)))
        for m in members:
            flips = sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 7)), replace=False))
            hashes[m] = hashes[s] ^ np.uint64(flips)
            planted_thumbs[int(m)] = np.clip(base + rng.normal(0, 3, (48, 48)), 0, 255).astype(np.uint8)
        planted += len(members)
    with open(path, "wb") as fh:  # written as a real pass writes its spill file: a block at a time, never mapped
        for s in range(0, count, 65536):
            block = rng.integers(0, 256, (min(65536, count - s), 48, 48), dtype=np.uint8)  # pictures of their own
            for m in range(s, s + len(block)):
                if m in planted_thumbs:
                    block[m - s] = planted_thumbs[m]
            fh.write(block.tobytes())
    thumbs = dup.open_thumbs(str(path), count)
    keys = [f"listings/{i // 1000:04d}/img_{i:07d}.jpg" for i in range(count)]
    coll = dup.Collection(keys, rng.integers(50_000, 900_000, count), np.full(count, 1024 * 768), np.zeros(count),
                          ["JPEG"] * count, np.zeros((count, 32), np.uint8), hashes, mirrored, cropped, thumbs)
    return coll, planted


def brute_force_seconds(hashes: np.ndarray, sample: int, max_distance: int) -> float:
    """All pairs of `sample` hashes, vectorised by rows (the N x N approach), timed; scaled to N by (N/sample)^2."""
    h = hashes[:sample]
    t0 = time.perf_counter()
    for s in range(0, sample, 1000):
        d = np.bitwise_count(h[s:s + 1000, None] ^ h[None, :])
        np.nonzero(d <= max_distance)
    took = time.perf_counter() - t0
    return took * (len(hashes) / sample) ** 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="hashes compared all-pairs for the brute-force figure")
    args = parser.parse_args(argv)
    settings = dup.DuplicateSettings()
    with tempfile.TemporaryDirectory(prefix="bench-dups-") as tmp:
        t0 = time.perf_counter()
        coll, planted = synthetic(args.count, args.count // 40, tmp)
        print(f"collection: {args.count:,} images, {planted:,} in planted groups (built in {time.perf_counter() - t0:.1f} s)")
        dup.hash_pairs(coll.hashes[:1000], None, 8)  # numba compiles its loop once (cached on disk after)
        t0 = time.perf_counter()
        pairs = dup.near_candidates(coll, settings.max_hamming, settings.variant_hamming)
        t_cand = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = dup.find_groups(coll, settings)
        t_all = time.perf_counter() - t0
        grouped = sum(1 for r in rows if r.group is not None)
        groups = len({r.group for r in rows if r.group is not None})
        brute = brute_force_seconds(coll.hashes, min(args.sample, args.count), settings.max_hamming) * 3  # 3 hash pairs
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"near tier: candidate pairs {len(pairs):,} in {t_cand:.1f} s (three hash searches: as is, mirrored, "
              f"centre crop); whole grouping {t_all:.1f} s -> {groups:,} groups, {grouped:,} images "
              f"({grouped / planted:.1%} of the planted)")
        print(f"brute force all pairs (measured on {min(args.sample, args.count):,}, scaled to {args.count:,}): "
              f"{brute:,.0f} s -> the index is {brute / t_all:,.0f}x faster; peak RSS {rss:,.0f} MB "
              f"(hashes and sizes {coll.hashes.nbytes * 3 / 2**20 + coll.size.nbytes * 3 / 2**20:,.0f} MB; "
              f"thumbnails on disk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
