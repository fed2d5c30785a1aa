"""Moves on the local S3 server: our plan executor versus a sequential get -> put -> delete loop with boto3.

    python -m bench.r2_moves [--count 2000] [--size-kb 200]

Both run in this one process against the same SeaweedFS server (127.0.0.1), alternating, on objects of the
same size; it prints moves/s for each and ratio=<ours/baseline>.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import secrets
import tempfile
import time
from pathlib import Path

from segregator.plan import MovePlan, PlanItem, execute_plan
from segregator.r2 import R2Config, R2Storage
from segregator.s3server import LocalS3Server


def _fill(storage: R2Storage, prefix: str, count: int, size: int) -> list[str]:
    keys = [f"{prefix}{i:05d}.jpg" for i in range(count)]
    body = os.urandom(size)
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: storage.client.put_object(Bucket=storage.bucket, Key=k, Body=body), keys))
    return keys


def ours(storage: R2Storage, keys: list[str], dest: str) -> float:
    plan = MovePlan("classify", {"kind": "r2", "bucket": storage.bucket}, "", "",
                    [PlanItem(k, dest + k.rsplit("/", 1)[1]) for k in keys])
    start = time.perf_counter()
    report = execute_plan(plan, storage, workers=storage.move_threads)
    elapsed = time.perf_counter() - start
    assert report.count("moved") == len(keys), report.summary()
    return elapsed


def baseline(storage: R2Storage, keys: list[str], dest: str) -> float:
    c, b = storage.client, storage.bucket
    start = time.perf_counter()
    for k in keys:
        body = c.get_object(Bucket=b, Key=k)["Body"].read()
        c.put_object(Bucket=b, Key=dest + k.rsplit("/", 1)[1], Body=body)
        c.delete_object(Bucket=b, Key=k)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalS3Server(Path(tmp), "bench", secrets.token_hex(16)).start()
        try:
            config = R2Config(server.endpoint, server.access_key, server.secret_key)
            config.client().create_bucket(Bucket="bench")
            storage = R2Storage(config, "bench")
            totals = {"ours": 0.0, "baseline": 0.0}
            for r in range(args.rounds):
                for name, fn in (("ours", ours), ("baseline", baseline)):  # alternate, so noise hits both
                    keys = _fill(storage, f"{name}{r}/src/", args.count, args.size_kb * 1024)
                    totals[name] += fn(storage, keys, f"{name}{r}/dst/")
            n = args.count * args.rounds
            o, b = n / totals["ours"], n / totals["baseline"]
            print(f"{args.count} moves x {args.rounds} rounds of {args.size_kb} KB objects on SeaweedFS at 127.0.0.1")
            print(f"ours (server-side copy, verify, delete; {storage.move_threads} threads): {o:.0f} moves/s")
            print(f"baseline (sequential get -> put -> delete): {b:.0f} moves/s")
            print(f"ratio={o / b:.2f}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
