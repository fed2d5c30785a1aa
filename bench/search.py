"""Similarity search at scale: one reference against 1,000,000 hashes, and near-duplicate grouping of 100,000
hashes, versus a plain Python loop over imagehash.ImageHash objects on a sample (extrapolated per comparison);
then the search store (segregator/search.py) at 1,000,000 images.

    python -m bench.search [--hashes 1000000] [--group 100000] [--distance 8] [--embeddings 1000000] [--tags 1000000]

The search store: synthetic embeddings shaped like the image model's (bench/duplicates.py: mixes of real photos'
embeddings plus noise) in the vector index, built 100,000 at a time; "like" queries with fresh vectors, timed one
at a time, and their recall@10 against brute force (exact cosine over all the float vectors); an incremental add
of 10,000 (saved to disk); the index file's size. Then a tag store of as many images (a category, one to three
ImageNet classes drawn Zipf-like, colours, orientation, faces on one in ten) and the time of tag queries.

Hashes: random 64-bit values (a large collection's pHashes spread over all 64 bits) with 1,000 near-duplicate
copies planted (1 to 6 bits flipped). Ours and the baseline run in this one process, alternating; it prints times and
ratio=<baseline time / ours> (how many times faster ours is).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

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


def bench_vectors(n: int, queries: int = 100) -> None:
    import tempfile

    from bench.duplicates import synthetic_embeddings
    from segregator.search import NPROBE, VectorIndex

    emb, _ = synthetic_embeddings(n + queries + 10_000, 0)
    base, extra, qs = emb[:n], emb[n:n + 10_000], emb[n + 10_000:].astype(np.float32)
    index = VectorIndex()
    t0 = time.perf_counter()
    for s in range(0, n, 100_000):
        index.add(base[s:s + 100_000].astype(np.float32), np.arange(s, min(n, s + 100_000)))
    build = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.faiss"
        t0 = time.perf_counter()
        index.save(path)
        save = time.perf_counter() - t0
        size = path.stat().st_size
        index = VectorIndex.load(path)
        times, found = [], []
        for q in qs:
            t0 = time.perf_counter()
            _, ids = index.search(q[None], 10)
            times.append(time.perf_counter() - t0)
            found.append(ids[0])
        exact = np.concatenate([qs @ base[s:s + 65536].astype(np.float32).T for s in range(0, n, 65536)], axis=1)
        truth = np.argsort(-exact, axis=1)[:, :10]
        recall = float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))
        t0 = time.perf_counter()
        index.add(extra.astype(np.float32), np.arange(n, n + len(extra)))
        index.save(path)
        add = time.perf_counter() - t0
    print(f"like-this-one index, {n:,} embeddings: build {build:.0f} s (+ {save:.1f} s to save), file "
          f"{size / 2**30:.2f} GB; query {np.median(times) * 1000:.1f} ms median, {np.percentile(times, 95) * 1000:.1f} ms "
          f"p95 ({NPROBE} lists scanned); recall@10 against brute force {recall:.3f} ({queries} queries); "
          f"incremental add of {len(extra):,} + save {add:.1f} s")


def bench_tags(n: int) -> None:
    import tempfile

    from segregator import learned
    from segregator.search import SearchStore
    from segregator.settings import CATEGORIES

    rng = np.random.default_rng(4)
    classes = [name.lower() for _, name, _ in learned.class_map()]
    zipf = 1 / np.arange(1, len(classes) + 1)
    zipf /= zipf.sum()
    colours = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "black and white"]
    with tempfile.TemporaryDirectory() as tmp:
        store = SearchStore("bench:tags", Path(tmp))
        t0 = time.perf_counter()
        vocab: dict[str, int] = {}
        with store.db:
            for s in range(0, n, 100_000):
                items, tags = [], []
                for i in range(s, min(n, s + 100_000)):
                    cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))].lower()
                    items.append((i + 1, f"listing/{i // 40}/{i}.jpg", "v", 1000, cat, int(rng.random() < 0.1), None, 1))
                    row = {cat: float(rng.uniform(0.3, 1))}
                    for k in rng.choice(len(classes), int(rng.integers(1, 4)), p=zipf, replace=False):
                        row[classes[k]] = float(rng.uniform(0.15, 0.9))
                    for c in rng.choice(len(colours), int(rng.integers(0, 3)), replace=False):
                        row[colours[c]] = float(rng.uniform(0.3, 1))
                    row[("landscape", "portrait", "square")[int(rng.integers(3))]] = 1.0
                    if items[-1][5]:
                        row["face"] = row["faces: 1"] = 1.0
                    for pos, (t, w) in enumerate(row.items()):
                        tags.append((t, i + 1, w, pos))
                        vocab[t] = vocab.get(t, 0) + 1
                store.db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", items)
                store.db.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)", tags)
            store._count_vocabulary(vocab)
        built = time.perf_counter() - t0
        rare = min(vocab, key=lambda t: (abs(vocab[t] - n // 2000), t))
        for query, kw in (("nature", {}), (rare, {}), ("red, sports car", {}), ("landscape", {"category": "Food", "faces": True}),
                          ("retr", {}), ("portrait, purple", {"category": "Vehicles", "faces": True})):
            store.by_tags(query, **kw, limit=50)  # warm
            t0 = time.perf_counter()
            hits = store.by_tags(query, **kw, limit=50)
            took = time.perf_counter() - t0
            print(f"tag query {query!r}{' ' + str(kw) if kw else ''} over {n:,} images: {took * 1000:.0f} ms, "
                  f"{len(hits)} of the best shown")
        print(f"tag store of {n:,} images written in {built:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--group", type=int, default=100_000)
    parser.add_argument("--distance", type=int, default=8)
    parser.add_argument("--embeddings", type=int, default=1_000_000, help="the vector index's size (0: skip)")
    parser.add_argument("--tags", type=int, default=1_000_000, help="the tag store's size (0: skip)")
    args = parser.parse_args(argv)
    ours, loop = bench_one_to_many(args.hashes)
    print(f"1 reference vs {args.hashes:,} hashes: ours {ours * 1000:.1f} ms, "
          f"Python loop over ImageHash (extrapolated from 20,000) {loop:.1f} s; ratio={loop / ours:.0f}")
    ours, loop, groups = bench_grouping(args.group, args.distance)
    print(f"grouping {args.group:,} hashes within {args.distance} bits: ours {ours:.2f} s ({groups} groups), "
          f"Python loop over all pairs (extrapolated from 1,500 hashes) {loop / 3600:.1f} h; ratio={loop / ours:.0f}")
    if args.embeddings:
        bench_vectors(args.embeddings)
    if args.tags:
        bench_tags(args.tags)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
