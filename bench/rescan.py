"""A second classification of an unchanged folder / bucket, versus the first (the analysis cache at work).

    python -m bench.rescan [--images 5000] [--where local r2]

The folder holds `--images` real 1-megapixel photos (hard links to the bench corpus, so it costs no disk);
the bucket is a local SeaweedFS server on 127.0.0.1 with the same images uploaded. Each pass lists, analyses
(or finds in the cache) and classifies everything; it prints both times and ratio=<first/second>.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import secrets
import tempfile
import time
from pathlib import Path

from bench.datasets import build_corpus
from segregator import jobs
from segregator.storage import LocalStorage


def _passes(storage, prefix: str = "") -> tuple[float, float, int]:
    t0 = time.perf_counter()
    first = jobs.analyse_source(storage, prefix)
    t1 = time.perf_counter()
    second = jobs.analyse_source(storage, prefix)
    t2 = time.perf_counter()
    assert [(r.key, r.category) for r in first] == [(r.key, r.category) for r in second]
    return t1 - t0, t2 - t1, len(first)


CORPUS: Path | None = None


def _corpus() -> list[Path]:
    return sorted((CORPUS or build_corpus("1mp")).glob("*.jpg"))


def local(n: int, tmp: Path) -> tuple[float, float, int]:
    corpus = _corpus()
    folder = tmp / "photos"
    for i in range(n):
        sub = folder / f"listing_{i // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        os.link(corpus[i % len(corpus)], sub / f"{i:05d}.jpg")
    return _passes(LocalStorage(folder))


def bucket(n: int, tmp: Path) -> tuple[float, float, int]:
    from segregator.r2 import R2Config, R2Storage
    from segregator.s3server import LocalS3Server

    corpus = [p.read_bytes() for p in _corpus()]
    server = LocalS3Server(tmp / "s3", "bench", secrets.token_hex(16)).start()
    try:
        config = R2Config(server.endpoint, server.access_key, server.secret_key)
        config.client().create_bucket(Bucket="rescan")
        storage = R2Storage(config, "rescan")
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: storage.client.put_object(Bucket="rescan", Key=f"imgs/{i // 100:03d}/{i:05d}.jpg",
                                                              Body=corpus[i % len(corpus)]), range(n)))
        return _passes(storage, "imgs/")
    finally:
        server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--where", nargs="+", default=["local", "r2"], choices=["local", "r2"])
    parser.add_argument("--corpus", type=Path, help="a folder of JPEGs to use instead of the 1 MP bench corpus")
    args = parser.parse_args(argv)
    global CORPUS
    CORPUS = args.corpus
    for where in args.where:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["SEGREGATOR_CACHE_DIR"] = str(Path(tmp) / "cache")  # an empty cache for the first pass
            first, second, n = (local if where == "local" else bucket)(args.images, Path(tmp))
        print(f"{where}: {n} images, first pass {first:.1f} s ({n / first:.0f} img/s), "
              f"second pass {second:.2f} s; ratio={first / second:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
