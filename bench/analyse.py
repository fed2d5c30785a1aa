"""The full analysis pipeline (load, features, classification, hashes, placeholder check) over many JPEGs, all
cores, versus the naive baseline (one process: full decode, imagehash.phash, the same feature code on the full
image), and versus the floor: JPEG draft-mode decode alone with the same workers.

    python -m bench.analyse [--sizes 1mp 3mp 12mp] [--images 400] [--baseline-images 24]
    python -m bench.analyse --sizes 3mp --rtt-ms 50   # + the default path on a bucket 50 ms away vs the folder

Real photos re-encoded at about 1, 3 and 12 megapixels (bench/datasets.py, cached outside the repo). For each
size the three run in this one process, alternating, and it prints images/s, ratio=<ours/baseline> and ours as
a fraction of the floor (all on the heuristic classifier); then the learned classifier's images/s beside it
(`--no-learned` skips that). Both pools are started and warm before the clock starts (the app keeps its workers
between passes; a one-off CLI run pays about half a second more).

With --rtt-ms, the same photos are also put in a bucket on a local SeaweedFS server, every request to it waits
that long first (as R2 over the internet: R2Config.request_delay, which travels with the configuration, so a
worker process that reads the bucket waits as well), and the default path (the learned classifier) runs on the
bucket and on the folder, alternating: it prints both and their ratio (reads must overlap the analysis).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import io
import multiprocessing
import os
import time
from pathlib import Path

import imagehash
from PIL import Image

from bench.datasets import SIZES, build_corpus
from segregator.analysis import analyse_objects, default_workers
from segregator.features import extract_features
from segregator.settings import Settings
from segregator.storage import LocalStorage


def _objects(folder: Path, n: int):
    storage = LocalStorage(folder)
    files = sorted((o for o in storage.list() if o.key.endswith(".jpg")), key=lambda o: o.key)
    return storage, [files[i % len(files)] for i in range(n)]


HEURISTIC = Settings().with_overrides({"classifier.backend": "heuristic"})
LEARNED = Settings().with_overrides({"classifier.backend": "learned"})


def ours(folder: Path, n: int, workers: int, settings: Settings = HEURISTIC) -> float:
    storage, objects = _objects(folder, n)
    analyse_objects(storage, objects[: workers * 8], settings, workers=workers)  # workers started and warm
    t0 = time.perf_counter()
    results = analyse_objects(storage, objects, settings, workers=workers)
    elapsed = time.perf_counter() - t0
    assert all(r.ok for r in results)
    return n / elapsed


def baseline(folder: Path, n: int) -> float:
    files = sorted(folder.glob("*.jpg"))
    t0 = time.perf_counter()
    for i in range(n):
        im = Image.open(files[i % len(files)]).convert("RGB")
        imagehash.phash(im)
        extract_features(im)
    return n / (time.perf_counter() - t0)


def _draft(path: str) -> int:
    with open(path, "rb") as fh:
        data = fh.read()
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (256, 256 * im.height // im.width))
    im.load()
    return im.width


def floor(folder: Path, n: int, workers: int) -> float:
    files = [str(p) for p in sorted(folder.glob("*.jpg"))]
    paths = [files[i % len(files)] for i in range(n)]
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        list(pool.map(_draft, paths[: workers * 8], chunksize=8))  # workers started and warm
        t0 = time.perf_counter()
        list(pool.map(_draft, paths, chunksize=8))
        return n / (time.perf_counter() - t0)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bucket_vs_folder(folder: Path, n: int, workers: int, rtt_ms: float, rounds: int) -> tuple[float, float, float]:
    """The default path's images/s on a SeaweedFS bucket holding the folder's JPEGs, rtt_ms before each request,
    and on the folder itself, alternating; (bucket, folder, the server's CPU seconds an image). The server runs
    on the same cores as the analysis here; on R2 that work is not on this machine."""
    import secrets
    import tempfile

    from segregator.r2 import R2Config, R2Storage
    from segregator.s3server import LocalS3Server

    with tempfile.TemporaryDirectory() as tmp:
        server = LocalS3Server(Path(tmp), "bench", secrets.token_hex(16)).start()
        try:
            config = R2Config(server.endpoint, server.access_key, server.secret_key)
            config.client().create_bucket(Bucket="bench")
            for path in sorted(folder.glob("*.jpg")):
                config.client().put_object(Bucket="bench", Key=path.name, Body=path.read_bytes())
            # every request waits rtt_ms first, in whichever process sends it (the delay travels with the configuration)
            storage = R2Storage(dataclasses.replace(config, request_delay=rtt_ms / 1000), "bench")
            listed = sorted((o for o in storage.list() if o.key.endswith(".jpg")), key=lambda o: o.key)
            objects = [listed[i % len(listed)] for i in range(n)]
            analyse_objects(storage, objects[: workers * 8], LEARNED, workers=workers)  # warm
            rates: dict[str, list[float]] = {"bucket": [], "folder": []}
            server_cpu = 0.0
            for _ in range(rounds):
                c0 = _cpu_seconds(server.process.pid)
                t0 = time.perf_counter()
                results = analyse_objects(storage, objects, LEARNED, workers=workers)
                rates["bucket"].append(n / (time.perf_counter() - t0))
                server_cpu += _cpu_seconds(server.process.pid) - c0
                assert all(r.ok for r in results)
                rates["folder"].append(ours(folder, n, workers, LEARNED))
            return sum(rates["bucket"]) / rounds, sum(rates["folder"]) / rounds, server_cpu / (rounds * n)
        finally:
            server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--baseline-images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--corpus", type=Path, help="a folder of JPEGs to use instead (one 'size')")
    parser.add_argument("--no-learned", dest="learned", action="store_false",
                        help="skip the learned classifier's images/s")
    parser.add_argument("--rtt-ms", type=float, default=None,
                        help="also the default path on a local S3 bucket with this delay before each request")
    args = parser.parse_args(argv)
    if args.corpus:
        args.sizes = ["custom"]
    workers = default_workers()
    print(f"{os.cpu_count()} cores, {workers} workers; {args.images} images per run, baseline {args.baseline_images}")
    for size in args.sizes:
        folder = args.corpus if size == "custom" else build_corpus(size)
        rates: dict[str, list[float]] = {"baseline": [], "ours": [], "floor": []}
        for _ in range(args.rounds):  # alternate, so machine noise hits all three alike
            rates["baseline"].append(baseline(folder, args.baseline_images))
            rates["ours"].append(ours(folder, args.images, workers))
            rates["floor"].append(floor(folder, args.images, workers))
        b, o, f = (sum(rates[k]) / len(rates[k]) for k in ("baseline", "ours", "floor"))
        print(f"{size}: ours {o:.0f} img/s, baseline {b:.1f} img/s, draft-decode floor {f:.0f} img/s; "
              f"ratio={o / b:.1f} floor_fraction={o / f:.2f}")
        if args.learned:
            from segregator.learned import available

            if available():
                lr = ours(folder, max(args.images // 4, workers * 8), workers, LEARNED)
                print(f"{size}: learned classifier (image model and faces on every image) {lr:.0f} img/s, "
                      f"{lr / o:.2f} of the heuristic path, floor_fraction={lr / f:.2f}")
        if args.rtt_ms is not None:
            bucket, local, server = bucket_vs_folder(folder, max(args.images // 2, workers * 8), workers, args.rtt_ms,
                                                     args.rounds)
            # the server's CPU time, taken from these cores, as a share of their time during the bucket runs
            server_share = min(0.99, server * bucket / os.cpu_count())
            print(f"{size}: learned classifier on a bucket {args.rtt_ms:g} ms away {bucket:.0f} img/s, on the folder "
                  f"{local:.0f} img/s: bucket_fraction={bucket / local:.2f}; the local S3 server used "
                  f"{server * 1000:.2f} ms CPU an image ({server_share:.0%} of the cores), without it "
                  f"bucket_fraction={bucket / (1 - server_share) / local:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
