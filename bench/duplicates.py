"""Duplicates at collection scale: grouping N cached hashes (the near tier), against the brute-force
all-pairs comparison measured on a sample in the same run.

    python -m bench.duplicates                 # 1,000,000 images, near tier
    python -m bench.duplicates --count 100000
    python -m bench.duplicates --tier similar  # 1,000,000 embeddings: the nearest-neighbour index

The collection: random 64-bit pHashes (and mirror / centre-crop hashes), with planted groups of 2-4 copies
whose hashes differ by 0-6 bits and whose thumbnails are noisy versions of one picture (a window of a real
photo: no two groups alike); the thumbnails live in a spill file read back a row at a time, as in a real pass.
Prints each phase's time and the peak RSS. With --tier similar: synthetic embeddings shaped like the image
model's, with planted re-framed copies, through the nearest-neighbour index.

    python -m bench.duplicates --end-to-end --count 100000

End to end: the CLI (`segregator duplicates FOLDER --plan-out ...`) on a folder of N small JPEGs, each a random
window of one of ~550 real photos, turned and mirrored at random (e2e_corpus), plus 1 % re-encoded half-size copies, twice in fresh processes: the
first run analyses (and fills the analysis cache), the second finds every image in the cache (no decode); prints
both times, their ratio and each run's peak RSS.
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
    photos = [Image.open(p).convert("L") for p in sorted(PHOTOS.glob("*.jpg"))]

    def picture() -> np.ndarray:  # a part of a real photo (a random window, turned a random way): its own picture
        while True:  # with something in it (a patch of clear sky is no picture to find copies of)
            im = photos[int(rng.integers(len(photos)))]
            side = int(min(im.size) * rng.uniform(0.25, 0.6))
            x, y = int(rng.integers(0, im.width - side)), int(rng.integers(0, im.height - side))
            part = np.asarray(im.crop((x, y, x + side, y + side)).resize((48, 48), Image.Resampling.BOX), dtype=np.float32)
            if part.std() >= 16:
                return np.rot90(part, int(rng.integers(4)))

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
        # each group its own picture (a window of a real photo, mixed with another), plus noise per copy
        base = picture() * rng.uniform(0.6, 1.0) + picture() * rng.uniform(0, 0.4) + rng.normal(0, 8, (48, 48))
        for m in members:
            flips = sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 7)), replace=False))
            hashes[m] = hashes[s] ^ np.uint64(flips)
            planted_thumbs[int(m)] = np.clip(base + rng.normal(0, 3, (48, 48)), 0, 255).astype(np.uint8)
        planted += len(members)
    upper, upper_mirror = np.empty(count, dtype=np.uint64), np.empty(count, dtype=np.uint64)
    tone, spread = np.empty(count, dtype=np.float32), np.empty(count, dtype=np.float32)
    with open(path, "wb") as fh:  # written as a real pass writes its spill file: a block at a time, never mapped
        for s in range(0, count, 65536):
            block = rng.integers(0, 256, (min(65536, count - s), 48, 48), dtype=np.uint8)  # pictures of their own
            for m in range(s, s + len(block)):
                if m in planted_thumbs:
                    block[m - s] = planted_thumbs[m]
            upper[s:s + len(block)] = dup.upper_hashes(block)  # as collect() hashes each batch it spills
            upper_mirror[s:s + len(block)] = dup.upper_hashes(block, mirror=True)
            tone[s:s + len(block)], spread[s:s + len(block)] = dup.grey_levels(block)
            fh.write(block.tobytes())
    thumbs = dup.open_thumbs(str(path), count)
    keys = [f"listings/{i // 1000:04d}/img_{i:07d}.jpg" for i in range(count)]
    coll = dup.Collection(keys, rng.integers(50_000, 900_000, count), np.full(count, 1024 * 768), np.zeros(count),
                          ["JPEG"] * count, np.zeros((count, 32), np.uint8), hashes, mirrored, cropped, thumbs,
                          upper=upper, upper_mirror=upper_mirror, tone=tone, spread=spread)
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


def synthetic_embeddings(count: int, planted: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """count unit vectors (float16, as the collection keeps them) shaped like the image model's: each a mix of
    three real photos' embeddings (the originals of bench.accuracy's duplicates set) plus noise, calibrated so
    that unrelated vectors' cosines fall as real unrelated photos' do (median 0.25, 99 % below 0.55; real:
    0.20, 0.47); `planted` of them re-framed copies of another (cosine 0.81-0.96). Returns the vectors and
    the planted (i, j) pairs."""
    from bench.datasets import build_duplicates, unpacked
    from segregator.analysis import analyse_file
    from segregator.settings import Settings

    settings = Settings().with_overrides({"placeholder.ocr": False, "similarity.min_embedding_similarity": 0.8})
    real = np.stack([np.asarray(analyse_file(p, key=p.name, settings=settings).embedding, dtype=np.float32)
                     for p in sorted(build_duplicates(unpacked()).glob("*__original.jpg"))])
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    dim = real.shape[1]
    out = np.empty((count, dim), dtype=np.float16)
    for s in range(0, count, 10_000):
        m = min(10_000, count - s)
        w = rng.dirichlet(np.ones(3), m).astype(np.float32)
        pick = rng.integers(0, len(real), (m, 3))
        v = np.einsum("mk,mkd->md", w, real[pick]) + rng.normal(0, 0.5 / np.sqrt(dim), (m, dim)).astype(np.float32)
        out[s:s + m] = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16)
    src = rng.choice(count, planted, replace=False)
    dst = (src + 1 + rng.integers(0, count - 1, planted)) % count
    for a, b in zip(src.tolist(), dst.tolist()):
        v = out[a].astype(np.float32)
        v = v + rng.normal(0, 1, dim).astype(np.float32) * rng.uniform(0.008, 0.02)
        out[b] = (v / np.linalg.norm(v)).astype(np.float16)
    return out, np.sort(np.stack([src, dst], axis=1), axis=1)


def _reset_peak() -> float:
    """Linux: the peak RSS set back to the current RSS (clear_refs 5), so a step's own peak can be read after;
    returns the current RSS in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_similar(count: int, sample: int) -> None:
    settings = dup.DuplicateSettings(tier="similar")
    t0 = time.perf_counter()
    emb, planted = synthetic_embeddings(count, count // 100)
    print(f"embeddings: {count:,} x {emb.shape[1]} float16 ({emb.nbytes / 2**30:.2f} GB), {len(planted):,} planted "
          f"re-framed copies (built in {time.perf_counter() - t0:.0f} s)")
    zeros = np.zeros(count, dtype=np.uint64)
    coll = dup.Collection([f"i{i:07d}" for i in range(count)], np.zeros(count, np.int64), np.zeros(count, np.int64),
                          np.zeros(count), [""] * count, np.zeros((count, 32), np.uint8), zeros, zeros, zeros,
                          np.zeros((count, 1, 1), np.uint8), emb, upper=zeros, upper_mirror=zeros)
    from bench.scale import _peak_mb

    base = _reset_peak()
    t0 = time.perf_counter()
    pairs = dup.similar_candidates(coll, settings.min_embedding_similarity)
    took = time.perf_counter() - t0
    step_peak = _peak_mb()
    found = {tuple(p) for p in pairs.tolist()}
    hit = sum(tuple(p) in found for p in planted.tolist())
    n = min(sample, count)
    m = emb[:n].astype(np.float32)
    t0 = time.perf_counter()
    for s in range(0, n, 2048):
        np.nonzero(m[s:s + 2048] @ m.T >= settings.min_embedding_similarity)
    brute = (time.perf_counter() - t0) * (count / n) ** 2
    print(f"similar tier: {len(pairs):,} candidate pairs in {took:.0f} s (index built and searched), "
          f"{hit / len(planted):.1%} of the planted copies found; resident {base:,.0f} MB before (the embeddings "
          f"{emb.nbytes / 2**20:,.0f} MB), peak {step_peak:,.0f} MB during the search (+{step_peak - base:,.0f} MB)")
    print(f"brute force all pairs (measured on {n:,}, scaled to {count:,}): {brute:,.0f} s -> the index is "
          f"{brute / took:,.1f}x faster")


def _copies(args: tuple[list[str], str]) -> None:
    paths, folder = args
    for p in paths:
        im = Image.open(p)
        im = im.resize((max(16, im.width // 2), max(16, im.height // 2)))
        im.save(Path(folder) / f"copy_{Path(p).name}", quality=75)


def _views(args: tuple[list[str], int, int, str]) -> None:
    """Images start..stop of the end-to-end corpus: each a random window (30-50 % of the side) of one of the
    real photos, turned and mirrored at random, 160-256 px wide, brightness jittered; its own picture."""
    from PIL import ImageEnhance

    sources, start, stop, folder = args
    cache: dict[int, Image.Image] = {}
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        k = int(rng.integers(len(sources)))
        if k not in cache:
            im = Image.open(sources[k])
            im.draft("RGB", (800, 800))
            cache[k] = im.convert("RGB")
        im = cache[k]
        side = int(min(im.size) * rng.uniform(0.3, 0.5))
        x, y = int(rng.integers(0, im.width - side + 1)), int(rng.integers(0, im.height - side + 1))
        part = im.crop((x, y, x + side, y + side)).rotate(90 * int(rng.integers(4)))
        if rng.integers(2):
            part = part.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        w = int(rng.integers(160, 257))
        part = ImageEnhance.Brightness(part.resize((w, int(w * rng.uniform(0.6, 1.0))))).enhance(rng.uniform(0.85, 1.15))
        sub = Path(folder) / f"listing_{i // 1000:04d}"
        sub.mkdir(exist_ok=True)
        part.save(sub / f"v{i:07d}.jpg", quality=int(rng.integers(75, 91)))


def e2e_corpus(count: int) -> Path:
    """count distinct small JPEGs made from the ~550 real photos of the bench's labelled set, once (kept under
    $SEGREGATOR_DATA/dups-e2e/)."""
    import concurrent.futures as cf
    import os

    from bench.datasets import build_classify, data_root, unpacked

    folder = data_root() / "dups-e2e" / str(count)
    if (folder / ".complete").exists():
        return folder
    sources = sorted(str(p) for p in build_classify(unpacked()).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    folder.mkdir(parents=True, exist_ok=True)
    with cf.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_views, [(sources, s, min(count, s + 2000), str(folder)) for s in range(0, count, 2000)]))
    (folder / ".complete").write_text("ok")
    return folder


def bench_end_to_end(count: int) -> None:
    import concurrent.futures as cf
    import os

    from bench.datasets import data_root
    from bench.scale import _cli_peak

    files = sorted(e2e_corpus(count).rglob("*.jpg"))
    with tempfile.TemporaryDirectory(prefix="bench-dups-e2e-", dir=data_root()) as tmp:
        folder = Path(tmp) / "photos"
        for f in files:
            (folder / f.parent.name).mkdir(parents=True, exist_ok=True)
            os.link(f, folder / f.parent.name / f.name)
        (folder / "copies").mkdir()
        picked = [str(f) for f in files[:: 100]]
        with cf.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(_copies, [(picked[s:s + 200], str(folder / "copies")) for s in range(0, len(picked), 200)]))
        env = dict(os.environ, SEGREGATOR_CACHE_DIR=str(Path(tmp) / "cache"), SEGREGATOR_LOG=str(Path(tmp) / "log.json"))
        total = len(files) + len(picked)
        plan = Path(tmp) / "plan.json"
        cmd = ["duplicates", str(folder), "--plan-out", str(plan), "--quiet"]
        first, peak1 = _cli_peak(cmd, env)
        second, peak2 = _cli_peak(cmd, env)
        import json

        with open(plan) as fh:  # JSON Lines: the header, then one item a line
            moved = [item["source"] for n, line in enumerate(fh) if n and (item := json.loads(line)).get("action") == "move"]
        moves, planted_moved = len(moved), sum(1 for k in moved if k.startswith("copies/"))
        print(f"end to end, {total:,} images ({len(picked):,} planted half-size copies), CLI duplicates -> plan:")
        print(f"  first run (analysis, cache filled) {first:7.1f} s, peak RSS {peak1:6.0f} MB")
        print(f"  second run (all cached)            {second:7.1f} s, peak RSS {peak2:6.0f} MB "
              f"-> {first / second:.1f}x faster; {moves:,} images planned to move, {planted_moved:,} of the "
              f"{len(picked):,} planted copies among them")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000, help="hashes compared all-pairs for the brute-force figure")
    parser.add_argument("--tier", choices=["near", "similar"], default="near")
    parser.add_argument("--end-to-end", action="store_true", help="the CLI on a folder of real JPEGs, cold then cached")
    args = parser.parse_args(argv)
    if args.end_to_end:
        bench_end_to_end(args.count if args.count != 1_000_000 else 100_000)
        return 0
    if args.tier == "similar":
        bench_similar(args.count, args.sample)
        return 0
    settings = dup.DuplicateSettings()
    with tempfile.TemporaryDirectory(prefix="bench-dups-") as tmp:
        t0 = time.perf_counter()
        coll, planted = synthetic(args.count, args.count // 40, tmp)
        print(f"collection: {args.count:,} images, {planted:,} in planted groups (built in {time.perf_counter() - t0:.1f} s)")
        dup.hash_pairs(coll.hashes[:1000], None, 8)  # numba compiles its loops once (cached on disk after)
        dup.compare(coll, np.arange(64), np.arange(64, 128), settings)
        t0 = time.perf_counter()
        pairs = dup.near_candidates(coll, settings.max_hamming, settings.variant_hamming, settings.region_hamming)
        t_cand = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = dup.find_groups(coll, settings)
        t_all = time.perf_counter() - t0
        grouped = sum(1 for r in rows if r.group is not None)
        groups = len({r.group for r in rows if r.group is not None})
        brute = brute_force_seconds(coll.hashes, min(args.sample, args.count), settings.max_hamming) * 4  # 4 hash searches
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"near tier: candidate pairs {len(pairs):,} in {t_cand:.1f} s (four hash searches: as is, mirrored, "
              f"centre crop, top 70 %); whole grouping {t_all:.1f} s -> {groups:,} groups, {grouped:,} images "
              f"({grouped / planted:.1%} of the planted)")
        print(f"brute force all pairs (measured on {min(args.sample, args.count):,}, scaled to {args.count:,}): "
              f"{brute:,.0f} s -> the index is {brute / t_all:,.0f}x faster; peak RSS {rss:,.0f} MB "
              f"(hashes and sizes {coll.hashes.nbytes * 3 / 2**20 + coll.size.nbytes * 3 / 2**20:,.0f} MB; "
              f"thumbnails on disk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
