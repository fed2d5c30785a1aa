"""The analysis on a local Dask cluster (`--cluster local:N`: a scheduler and N worker programs) against this machine's process pool, on the same cores, in one run:
3 MP JPEGs from a folder and from a bucket (a local SeaweedFS server), the default classifier (the image model,
faces, placeholders); then the client's peak RSS while `local:N` classifies 10k and 100k objects.

    python -m bench.cluster [--images 480] [--rounds 2] [--where local r2] [--rss-counts 10000 100000]

Both executors are started and warm before the clock starts, and they alternate round by round, so machine
noise hits both alike. Prints images/s of each and ratio=<cluster/pool> per source (target >= 0.85), and for
the memory part the client's peak RSS per count and growth=<100k/10k - 1> (the client holds the scheduler of a
cluster's scheduler and workers are processes of their own). The memory part runs the
heuristic classifier on 256 px copies of the photos: what it measures is the client, which never sees pixels.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.datasets import build_corpus
from bench.memory import _peak_kb, populate


def _rate(executor, storage, objects, settings) -> float:
    t0 = time.perf_counter()
    results = executor.analyse(storage, objects, settings)
    elapsed = time.perf_counter() - t0
    assert len(results) == len(objects) and all(r.ok for r in results), [r.error for r in results if r.error][:3]
    return len(objects) / elapsed


def speed(where: str, corpus: list[Path], images: int, rounds: int, workers: int, tmp: Path) -> tuple[float, float]:
    """(pool images/s, cluster images/s), the best of `rounds` alternating runs each."""
    from segregator import compute, jobs
    from segregator.storage import LocalStorage

    settings = jobs.checked_settings(jobs.Settings())
    server = None
    try:
        if where == "local":
            storage = LocalStorage(corpus[0].parent)
            listed = sorted((o for o in storage.list() if o.key.endswith(".jpg")), key=lambda o: o.key)
            objects = [listed[i % len(listed)] for i in range(images)]
        else:
            from segregator.r2 import R2Config, R2Storage
            from segregator.s3server import LocalS3Server

            server = LocalS3Server(tmp / "s3", "bench", secrets.token_hex(16)).start()
            # the cluster's workers open the bucket from their own environment (inherited from here)
            os.environ.update(R2_ENDPOINT=server.endpoint, R2_ACCESS_KEY=server.access_key,
                              R2_SECRET_KEY=server.secret_key)
            config = R2Config(server.endpoint, server.access_key, server.secret_key)
            config.client().create_bucket(Bucket="bench")
            storage = R2Storage(config, "bench")
            data = [p.read_bytes() for p in corpus]
            with cf.ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i: storage.write(f"imgs/{i:05d}.jpg", data[i % len(data)]), range(images)))
            objects = sorted(storage.list("imgs/"), key=lambda o: o.key)
        pool_ex = compute.PoolExecutor(workers)
        cluster_ex = compute.DaskExecutor(f"local:{workers}")
        for ex in (pool_ex, cluster_ex):
            ex.analyse(storage, objects[: workers * 24], settings)  # started, models loaded, warm
        rates: dict[str, list[float]] = {"pool": [], "cluster": []}
        for _ in range(rounds):
            rates["pool"].append(_rate(pool_ex, storage, objects, settings))
            rates["cluster"].append(_rate(cluster_ex, storage, objects, settings))
        return max(rates["pool"]), max(rates["cluster"])
    finally:
        compute.close_clients()
        if server:
            server.stop()
        for name in ("R2_ENDPOINT", "R2_ACCESS_KEY", "R2_SECRET_KEY"):
            os.environ.pop(name, None)


def child(where: str, location: str, workers: int) -> None:
    """Classify as `classify --cluster local:N --plan-out` does, and report this process's peak RSS."""
    from segregator import jobs
    from segregator.plan import PlanWriter
    from segregator.storage import LocalStorage

    if where == "local":
        storage, prefix = LocalStorage(location), ""
    else:
        from segregator.r2 import R2Config, R2Storage

        endpoint, bucket = location.rsplit("/", 1)
        storage, prefix = R2Storage(R2Config.from_env(), bucket), "imgs/"
        assert storage.config.endpoint == endpoint
    settings = jobs.checked_settings(jobs.Settings().with_overrides({"classifier.backend": "heuristic"}))
    header = jobs.classification_header(storage, prefix, None, jobs.classifier_categories("heuristic"))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        writer = PlanWriter(Path(tmp) / "plan.jsonl", header)
        stream = jobs.iter_analysis(storage, prefix, settings, cache=False, cluster=f"local:{workers}")
        for item in jobs.classification_items(stream, header):
            writer.add(item)
        summary = writer.close()
    print(f"{_peak_kb() / 1024:.1f} {summary['total']} {time.perf_counter() - t0:.1f}")


def memory(where: str, counts: list[int], workers: int, photos: list[Path], tmp: Path) -> dict[int, float]:
    from PIL import Image

    small = tmp / "small"
    small.mkdir()
    for p in photos:
        with Image.open(p) as im:
            im.thumbnail((256, 256))
            im.convert("RGB").save(small / p.name, quality=85)
    corpus = sorted(small.glob("*.jpg"))
    peaks: dict[int, float] = {}
    server = client = data = None
    try:
        env = dict(os.environ)
        if where == "r2":
            from segregator.r2 import R2Config
            from segregator.s3server import LocalS3Server

            server = LocalS3Server(tmp / "s3mem", "bench", secrets.token_hex(16)).start()
            client = R2Config(server.endpoint, server.access_key, server.secret_key).client()
            data = [p.read_bytes() for p in corpus]
            env.update(R2_ENDPOINT=server.endpoint, R2_ACCESS_KEY=server.access_key, R2_SECRET_KEY=server.secret_key)
        for n in counts:
            location = populate(where, n, corpus, tmp, server and (server, client, data))
            out = subprocess.run([sys.executable, "-m", "bench.cluster", "--child", where, location,
                                  "--workers", str(workers)], check=True, capture_output=True, text=True,
                                 env=env).stdout.split()
            assert int(out[1]) == n, f"the plan has {out[1]} items, not {n}"
            peaks[n] = float(out[0])
            print(f"memory {where}: {n} objects on local:{workers}: client peak RSS {peaks[n]:.0f} MB "
                  f"({n / float(out[2]):.0f} objects/s)", flush=True)
    finally:
        if server:
            server.stop()
    return peaks


def ceiling(n: int, corpus: list[Path], tmp: Path) -> float:
    """Objects a second one client can take in: listing a folder, the cache lookups and writes, plan items
    written, with an executor that hands back finished results at once (as if the cluster were infinitely
    fast). Above this rate more workers cannot help."""
    import copy
    import dataclasses

    from segregator import compute, jobs
    from segregator.plan import PlanWriter
    from segregator.storage import LocalStorage

    settings = jobs.checked_settings(jobs.Settings())
    photos = LocalStorage(corpus[0].parent)
    templates = compute.PoolExecutor().analyse(photos, sorted((o for o in photos.list() if o.key.endswith(".jpg")),
                                                              key=lambda o: o.key), settings)
    assert all(r.ok for r in templates)

    class Replay(compute.Executor):
        def analyse(self, storage, objects, settings, examples=(), placeholders=True, progress=None):
            return [dataclasses.replace(copy.copy(templates[i % len(templates)]), key=o.key, size=o.size)
                    for i, o in enumerate(objects)]

    storage = LocalStorage(populate("local", n, corpus, tmp))
    os.environ["SEGREGATOR_CACHE_DIR"] = str(tmp / "cache")
    header = jobs.classification_header(storage, "", None, jobs.classifier_categories(settings.classifier.backend))
    t0 = time.perf_counter()
    writer = PlanWriter(tmp / "plan.jsonl", header)
    for item in jobs.classification_items(jobs.iter_analysis(storage, "", settings, cluster=Replay()), header):
        writer.add(item)
    assert writer.close()["total"] == n
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--where", nargs="+", default=["local", "r2"], choices=["local", "r2"])
    parser.add_argument("--rss-counts", nargs="*", type=int, default=[10_000, 100_000],
                        help="object counts for the client's memory (none: skip that part)")
    parser.add_argument("--corpus", type=Path, help="a folder of JPEGs to use for every part instead of the 1 and 3 MP "
                                                    "bench photos")
    parser.add_argument("--ceiling", type=int, default=20_000, help="objects for the client-ceiling run")
    parser.add_argument("--child", nargs=2, metavar=("WHERE", "LOCATION"))
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.workers)
        return 0
    corpus = sorted((args.corpus or build_corpus("3mp")).glob("*.jpg"))
    small = sorted((args.corpus or build_corpus("1mp")).glob("*.jpg"))
    print(f"{os.cpu_count()} cores; {args.workers} pool processes vs local:{args.workers} (single-thread "
          f"workers); {args.images} 3 MP JPEGs per run, {args.rounds} rounds, default classifier", flush=True)
    for where in args.where:
        with tempfile.TemporaryDirectory() as tmp:
            pool, cluster = speed(where, corpus, args.images, args.rounds, args.workers, Path(tmp))
        print(f"speed {where}: pool {pool:.1f} img/s, cluster {cluster:.1f} img/s; ratio={cluster / pool:.2f} "
              f"({cluster / args.workers:.1f} img/s per worker core)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rate = ceiling(args.ceiling, small, Path(tmp))
    print(f"client ceiling: {rate:.0f} objects/s (listing, cache lookups and writes, plan items for {args.ceiling} "
          f"objects with the analysis itself taking no time)", flush=True)
    if args.rss_counts:
        for where in args.where:
            with tempfile.TemporaryDirectory() as tmp:
                peaks = memory(where, args.rss_counts, args.workers, small, Path(tmp))
            lo, hi = min(peaks), max(peaks)
            print(f"memory {where}: growth={peaks[hi] / peaks[lo] - 1:.1%} from {lo} to {hi} objects", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
