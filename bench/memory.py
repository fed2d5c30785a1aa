"""Peak memory while classifying 1,000 and 10,000 images (a folder) and listing + analysing as many objects
(a bucket on a local SeaweedFS server): it must stay flat as the count grows.

    python -m bench.memory [--counts 1000 10000] [--where local r2]

This process builds each folder or fills the bucket; the classification itself runs in a fresh process
(`python -m bench.memory --child ...`), as `python -m segregator classify` would, and reports its own peak RSS
and the largest of its analysis workers' peaks (each holds at most a group of 16 images' bytes, 32 MB). Prints
peak MB per count and growth=<10k/1k - 1> (of the classifying process).
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


def child(where: str, location: str) -> None:
    """Classify as `classify --plan-out` does: each result becomes its plan line as it arrives."""
    from segregator import jobs
    from segregator.plan import PlanWriter
    from segregator.storage import LocalStorage

    if where == "local":
        storage, prefix = LocalStorage(location), ""
    else:
        from segregator.r2 import R2Config, R2Storage

        endpoint, bucket = location.rsplit("/", 1)
        config = R2Config(endpoint, os.environ["BENCH_ACCESS_KEY"], os.environ["BENCH_SECRET_KEY"])
        storage, prefix = R2Storage(config, bucket), "imgs/"
    base = _peak_kb()
    settings = jobs.checked_settings(jobs.Settings())
    header = jobs.classification_header(storage, prefix, None, jobs.classifier_categories(settings.classifier.backend))
    with tempfile.TemporaryDirectory() as tmp:
        writer = PlanWriter(Path(tmp) / "plan.jsonl", header)
        for item in jobs.classification_items(jobs.iter_analysis(storage, prefix, settings, cache=False), header):
            writer.add(item)
        summary = writer.close()
    print(f"{_peak_kb() / 1024:.1f} {base / 1024:.1f} {summary['total']} {_workers_peak_kb() / 1024:.1f}")


def _peak_kb(pid: int | str = "self") -> int:
    """A process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that over exec from the
    parent, so a child would report the parent's peak."""
    if os.path.exists(f"/proc/{pid}/status"):
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if pid == "self" else 0


def _workers_peak_kb() -> int:
    """The largest peak RSS among the analysis pool's workers (still started: the pool is kept for reuse)."""
    from segregator import analysis

    pids = [pid for pool in analysis._POOLS.values() for pid in (pool._processes or {})]
    return max((_peak_kb(pid) for pid in pids), default=0)


def populate(where: str, n: int, corpus: list[Path], tmp: Path, bucket_side=None) -> str:
    """n objects cycling through the corpus: hard links in a new folder (500 a subfolder), or objects under
    imgs/ in a new bucket (bucket_side = (server, client, the corpus's bytes)); returns the folder path or
    ENDPOINT/BUCKET."""
    if where == "local":
        location = tmp / f"photos{n}"
        for i in range(n):
            sub = location / f"l{i // 500:04d}"
            sub.mkdir(parents=True, exist_ok=True)
            os.link(corpus[i % len(corpus)], sub / f"{i:06d}.jpg")
        return str(location)
    server, client, data = bucket_side
    bucket = f"mem{n}"
    client.create_bucket(Bucket=bucket)
    with cf.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=bucket, Key=f"imgs/{i:06d}.jpg", Body=data[i % len(data)]),
                      range(n)))
    return f"{server.endpoint}/{bucket}"


def _measure(where: str, location: str, n: int, env: dict | None = None) -> tuple[float, float, float]:
    """(peak MB of the classifying process, its MB before the analysis, the largest worker's peak MB)."""
    out = subprocess.run([sys.executable, "-m", "bench.memory", "--child", where, location], check=True,
                         capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout.split()
    assert int(out[2]) == n, f"the plan has {out[2]} items, not {n}"
    return float(out[0]), float(out[1]), float(out[3])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--where", nargs="+", default=["local", "r2"], choices=["local", "r2"])
    parser.add_argument("--child", nargs=2, metavar=("WHERE", "LOCATION"))
    parser.add_argument("--corpus", help="a folder of JPEGs to use instead of the 1 MP bench corpus")
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    corpus = sorted((Path(args.corpus) if args.corpus else build_corpus("1mp")).glob("*.jpg"))
    for where in args.where:
        peaks = {}
        with tempfile.TemporaryDirectory() as tmp:
            server = None
            try:
                if where == "r2":
                    from segregator.r2 import R2Config
                    from segregator.s3server import LocalS3Server

                    server = LocalS3Server(Path(tmp) / "s3", "bench", secrets.token_hex(16)).start()
                    client = R2Config(server.endpoint, server.access_key, server.secret_key).client()
                    data = [p.read_bytes() for p in corpus]
                for n in args.counts:
                    location = populate(where, n, corpus, Path(tmp), server and (server, client, data))
                    env = None if where == "local" else {"BENCH_ACCESS_KEY": server.access_key,
                                                         "BENCH_SECRET_KEY": server.secret_key}
                    peak, before, worker = _measure(where, location, n, env)
                    peaks[n] = peak
                    print(f"{where}: {n} images, peak RSS {peak:.0f} MB (before analysis {before:.0f} MB); "
                          f"largest worker's peak {worker:.0f} MB")
            finally:
                if server:
                    server.stop()
        lo, hi = min(args.counts), max(args.counts)
        print(f"{where}: growth={peaks[hi] / peaks[lo] - 1:.1%} from {lo} to {hi}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
