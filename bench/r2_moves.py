"""Moves on the local S3 server: our plan executor versus a sequential get -> put -> delete loop with boto3.

    python -m bench.r2_moves [--count 2000] [--size-kb 200] [--rtt-ms 0]

Both run in this one process against the same SeaweedFS server (127.0.0.1), alternating, on objects of the
same size; it prints moves/s for each and ratio=<ours/baseline>. Ours is the app's executor as a run uses it
(plan built from the listing, journaled, under the run lock, logged).

On loopback the server shares the machine's cores with the client, so the figure is bounded by how fast the
server copies. `--rtt-ms 20` adds that much latency before each request (both sides), as between a server and
R2 over the internet, where the sequential loop waits and the executor's threads overlap.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import secrets
import tempfile
import time
from pathlib import Path

from segregator.jobs import run_plan
from segregator.plan import MovePlan, PlanItem
from segregator.r2 import R2Config, R2Storage
from segregator.s3server import LocalS3Server
from segregator.session_log import SessionLog


def _fill(storage: R2Storage, prefix: str, count: int, size: int) -> list[str]:
    keys = [f"{prefix}{i:05d}.jpg" for i in range(count)]
    body = os.urandom(size)
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: storage.client.put_object(Bucket=storage.bucket, Key=k, Body=body), keys))
    return keys


def ours(storage: R2Storage, keys: list[str], dest: str) -> float:
    start = time.perf_counter()
    # as a real plan: built from the listing, so each item carries the source's size and ETag
    listed = list(storage.list(keys[0].rsplit("/", 1)[0] + "/"))
    assert len(listed) == len(keys)
    plan = MovePlan("classify", storage.record(), "", "",
                    [PlanItem(o.key, dest + o.key.rsplit("/", 1)[1], source_version=o.version, source_size=o.size)
                     for o in listed])
    report, _event = run_plan(plan, storage, log=SessionLog(Path(os.environ["SEGREGATOR_JOURNAL_DIR"]) / "log.json"))
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
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="simulated network round trip per request")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGREGATOR_JOURNAL_DIR"] = str(Path(tmp) / "journals")  # ours runs journaled, as the app does
        server = LocalS3Server(Path(tmp), "bench", secrets.token_hex(16)).start()
        try:
            config = R2Config(server.endpoint, server.access_key, server.secret_key)
            config.client().create_bucket(Bucket="bench")
            storage = R2Storage(config, "bench")
            if args.rtt_ms > 0:
                delay = args.rtt_ms / 1000
                storage.client.meta.events.register("before-send.s3", lambda **kw: time.sleep(delay))
            totals = {"ours": 0.0, "baseline": 0.0}
            for r in range(args.rounds):
                for name, fn in (("ours", ours), ("baseline", baseline)):  # alternate, so noise hits both
                    keys = _fill(storage, f"{name}{r}/src/", args.count, args.size_kb * 1024)
                    totals[name] += fn(storage, keys, f"{name}{r}/dst/")
            n = args.count * args.rounds
            o, b = n / totals["ours"], n / totals["baseline"]
            rtt = f", {args.rtt_ms:g} ms simulated round trip per request" if args.rtt_ms > 0 else ""
            print(f"{args.count} moves x {args.rounds} rounds of {args.size_kb} KB objects on SeaweedFS at 127.0.0.1{rtt}")
            print(f"ours (journaled; conditional server-side copies of the listed version in {storage.move_threads} "
                  f"threads; right before each batched delete the copies are checked by a listing and the sources "
                  f"by the delete's own ETag condition): {o:.0f} moves/s")
            print(f"baseline (sequential get -> put -> delete): {b:.0f} moves/s")
            print(f"ratio={o / b:.2f}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
