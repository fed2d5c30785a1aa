"""Similarity search at scale: one reference against 1,000,000 hashes, and near-duplicate grouping of 100,000
hashes, versus a plain Python loop over imagehash.ImageHash objects on a sample (extrapolated per comparison).

    python -m bench.search [--hashes 1000000] [--group 100000] [--distance 8]

Hashes: random 64-bit values (a large collection's pHashes spread over all 64 bits) with 1,000 near-duplicate
copies planted (1 to 6 bits flipped). Ours and the baseline run in this one process, alternating; it prints times and
ratio=<baseline time / ours> (how many times faster ours is).
"""

from __future__ import annotations

import argparse
import time

import imagehash
import numpy as np

from segregator.hashing import hamming_many
from segregator.similarity import group_near_duplicates, near_duplicate_pairs


def _hashes(n: int, seed: int = 3, planted: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    for g in range(min(planted, n // 4)):  # near-duplicate copies: a few bits flipped
        v = int(values[g])
        for bit in rng.choice(64, size=int(rng.integers(1, 7)), replace=False):
            v ^= 1 << int(bit)
        values[n // 2 + g] = np.uint64(v)
    return values


def _to_imagehash(v: int) -> imagehash.ImageHash:
    bits = np.unpackbits(np.frombuffer(int(v).to_bytes(8, "big"), dtype=np.uint8)).astype(bool).reshape(8, 8)
    return imagehash.ImageHash(bits)


def bench_one_to_many(n: int, repeats: int = 20) -> tuple[float, float]:
    values = _hashes(n)
    ref = int(values[0])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        d = hamming_many(ref, values)
        hits = np.flatnonzero(d <= 10)
        times.append(time.perf_counter() - t0)
    ours = float(np.median(times))
    sample = 20_000
    objs = [_to_imagehash(v) for v in values[:sample]]
    ref_obj = _to_imagehash(ref)
    t0 = time.perf_counter()
    loop_hits = [i for i, h in enumerate(objs) if ref_obj - h <= 10]
    per = (time.perf_counter() - t0) / sample
    assert set(loop_hits) == {int(i) for i in hits if i < sample}
    return ours, per * n


def bench_grouping(n: int, distance: int) -> tuple[float, float, int]:
    values = _hashes(n, seed=5)
    t0 = time.perf_counter()
    groups = group_near_duplicates(values, distance)
    ours = time.perf_counter() - t0
    sample = 1500
    objs = [_to_imagehash(v) for v in values[:sample]]
    t0 = time.perf_counter()
    loop_pairs = {(i, j) for i in range(sample) for j in range(i + 1, sample) if objs[i] - objs[j] <= distance}
    per_pair = (time.perf_counter() - t0) / (sample * (sample - 1) / 2)
    ours_pairs = {tuple(p) for p in near_duplicate_pairs(values[:sample], distance).tolist()}
    assert ours_pairs == loop_pairs
    return ours, per_pair * n * (n - 1) / 2, len(groups)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--group", type=int, default=100_000)
    parser.add_argument("--distance", type=int, default=8)
    args = parser.parse_args(argv)
    ours, loop = bench_one_to_many(args.hashes)
    print(f"1 reference vs {args.hashes:,} hashes: ours {ours * 1000:.1f} ms, "
          f"Python loop over ImageHash (extrapolated from 20,000) {loop:.1f} s; ratio={loop / ours:.0f}")
    ours, loop, groups = bench_grouping(args.group, args.distance)
    print(f"grouping {args.group:,} hashes within {args.distance} bits: ours {ours:.2f} s ({groups} groups), "
          f"Python loop over all pairs (extrapolated from 1,500 hashes) {loop / 3600:.1f} h; ratio={loop / ours:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
