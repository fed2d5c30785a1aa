"""Peak memory while classifying 1,000 and 10,000 images (a folder) and listing + analysing as many objects
(a bucket on a local SeaweedFS server): it must stay flat as the count grows.

    python -m bench.memory [--counts 1000 10000] [--where local r2]

Each measurement runs in a fresh process (`python -m bench.memory --child ...`) and reports its own peak RSS
(the workers' memory is bounded separately: each holds a few images at a time). Prints peak MB per count and
growth=<10k/1k - 1>.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import resource
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.datasets import build_corpus


def child(where: str, n: int, tmp: Path, corpus_dir: str | None = None) -> None:
    from segregator import jobs
    from segregator.storage import LocalStorage

    corpus = sorted((Path(corpus_dir) if corpus_dir else build_corpus("1mp")).glob("*.jpg"))
    if where == "local":
        folder = tmp / "photos"
        for i in range(n):
            sub = folder / f"l{i // 200:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            os.link(corpus[i % len(corpus)], sub / f"{i:05d}.jpg")
        storage, prefix, server = LocalStorage(folder), "", None
    else:
        from segregator.r2 import R2Config, R2Storage
        from segregator.s3server import LocalS3Server

        server = LocalS3Server(tmp / "s3", "bench", secrets.token_hex(16)).start()
        config = R2Config(server.endpoint, server.access_key, server.secret_key)
        config.client().create_bucket(Bucket="mem")
        storage, prefix = R2Storage(config, "mem"), "imgs/"
        data = [p.read_bytes() for p in corpus]
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: storage.client.put_object(Bucket="mem", Key=f"imgs/{i:05d}.jpg",
                                                              Body=data[i % len(data)]), range(n)))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        results = jobs.analyse_source(storage, prefix, cache=False)
        plan = jobs.classification_plan(storage, results, prefix)
        assert len(plan.items) == n
    finally:
        if server:
            server.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{peak / 1024:.1f} {base / 1024:.1f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--where", nargs="+", default=["local", "r2"], choices=["local", "r2"])
    parser.add_argument("--child", nargs=2, metavar=("WHERE", "N"))
    parser.add_argument("--corpus", help="a folder of JPEGs to use instead of the 1 MP bench corpus")
    args = parser.parse_args(argv)
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            child(args.child[0], int(args.child[1]), Path(tmp), args.corpus)
        return 0
    for where in args.where:
        peaks = {}
        for n in args.counts:
            extra = ["--corpus", str(args.corpus)] if args.corpus else []
            out = subprocess.run([sys.executable, "-m", "bench.memory", "--child", where, str(n), *extra], check=True,
                                 capture_output=True, text=True).stdout.split()
            peaks[n] = float(out[0])
            print(f"{where}: {n} images, peak RSS {peaks[n]:.0f} MB (before analysis {float(out[1]):.0f} MB)")
        lo, hi = min(args.counts), max(args.counts)
        print(f"{where}: growth={peaks[hi] / peaks[lo] - 1:.1%} from {lo} to {hi}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
