"""Bucket-scale runs through the job runner: classify -> plan -> apply -> undo on N distinct small JPEGs cut from
real photos, in a folder and in a bucket on a local SeaweedFS server.

    python -m bench.scale [--count 100000] [--where local r2] [--classifier learned|heuristic]

Each stage runs as a job of a JobRunner in a fresh process (as the app's server runs it), which reports its time
and its own peak RSS (VmHWM; the analysis workers are separate processes, each holding a few images at a time).
The same classify -> apply is also run through the CLI (`classify --plan-out`, `apply`). Printed per stage:
seconds, objects/s, peak RSS, and the sizes of the plan, the run journal and the job store. With the folder, the
app's home page is then opened on the 100k-item plan (Streamlit's AppTest, server side) and the time of a first
draw and of two interactions (a filter, another page of the plan) is printed. The images are made once and kept
under $SEGREGATOR_DATA/scale/ (default ~/.cache/segregator-data).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.datasets import data_root

REPO = Path(__file__).resolve().parent.parent
PHOTOS = sorted((REPO / "tests" / "data" / "photos").glob("*.jpg")) + sorted((REPO / "samples").glob("*.jpg"))


def _make(args: tuple[int, int, str]) -> None:
    from PIL import Image, ImageEnhance

    start, stop, folder = args
    photos = [Image.open(p).convert("RGB") for p in PHOTOS]
    photos = [p.resize((p.width // 2, p.height // 2)) for p in photos]
    for i in range(start, stop):
        rng = random.Random(i)
        im = photos[i % len(photos)]
        w, h = im.size
        cw, ch = rng.randint(w // 3, w * 2 // 3), rng.randint(h // 3, h * 2 // 3)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = im.crop((x, y, x + cw, y + ch)).resize((rng.randint(96, 160), rng.randint(72, 120)))
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.75, 1.25))
        sub = Path(folder) / f"listing_{i // 1000:04d}"
        sub.mkdir(exist_ok=True)
        crop.save(sub / f"p{i:07d}.jpg", quality=rng.randint(70, 90))


def corpus(count: int) -> Path:
    """N distinct JPEGs (each its own crop, size, brightness and quality of a real photo), made once."""
    folder = data_root() / "scale" / str(count)
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    step = 5000
    with cf.ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(_make, [(s, min(count, s + step), str(folder)) for s in range(0, count, step)]))
    marker.write_text("ok")
    return folder


def _peak_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(kind: str, params: str) -> None:
    """One job, run by a JobRunner in this fresh process; prints what it measured as JSON."""
    from segregator.jobs.runner import JobRunner

    runner = JobRunner()
    start = time.perf_counter()
    params = json.loads(params)
    job_id = runner.submit(kind, f"bench {kind}", params.get("source", "bench"), params)
    while runner.store.get(job_id).active:
        time.sleep(0.2)
    job = runner.store.get(job_id)
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(), "state": job.status,
                      "error": job.error, "result": job.result, "run_id": job.run_id}))


def _run_child(kind: str, params: dict, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.scale", "--child", kind, json.dumps(params)], cwd=REPO, env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{kind} failed: {out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if data["state"] != "done":
        raise SystemExit(f"{kind} job {data['state']}: {data['error']}")
    return data


def _cli_peak(args: list[str], env: dict) -> tuple[float, float]:
    """A CLI command in a child process: its seconds and its own peak RSS (read by a tiny wrapper)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "segregator", *args], cwd=REPO,
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    if out[2] != "0":
        raise SystemExit(f"segregator {' '.join(args)} failed")
    return float(out[0]), int(out[1]) / 1024


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB" if path.exists() else "-"


def _report(stage: str, n: int, seconds: float, peak: float, extra: str = "") -> None:
    print(f"  {stage:<22} {seconds:8.1f} s  {n / seconds:9,.0f} objects/s  peak RSS {peak:6.0f} MB  {extra}", flush=True)


def app_timing(state: Path, folder: Path, env: dict, count: int) -> None:
    """The app's home page on the big plan: server-side time of a first draw and of two interactions."""
    code = f"""
import os, time
os.environ.update({json.dumps({k: v for k, v in env.items() if k.startswith("SEGREGATOR_")})})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(REPO / "app.py")!r}, default_timeout=120)
at.session_state["source_folder"] = {str(folder)!r}
at.session_state["classifier"] = "heuristic"
t = time.perf_counter(); at.run(); first = time.perf_counter() - t
assert not at.exception, at.exception
box = at.selectbox(key="classify_f_folder")
t = time.perf_counter(); box.set_value(box.options[2]).run(); flt = time.perf_counter() - t
box = at.selectbox(key="classify_f_folder")
t = time.perf_counter(); box.set_value(box.options[0]).run(); at.number_input(key="classify_page").set_value({min(900, count // 50)}).run()
page = time.perf_counter() - t
assert not at.exception, at.exception
print(first, flt, page)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode:
        print(f"  app: could not time ({out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode})")
        return
    first, flt, page = map(float, out.stdout.split()[-3:])
    print(f"  app page on the plan     first draw {first:.2f} s, filter by a folder {flt:.2f} s, "
          f"to page {min(900, count // 50)} of the whole plan {page:.2f} s  (target: an interaction <= 2 s)")


def run(where: str, count: int, classifier: str, images: Path, tmp: Path) -> None:
    state = tmp / f"state-{where}-{count}"
    env = {**os.environ, "SEGREGATOR_JOURNAL_DIR": str(state / "journal"), "SEGREGATOR_LOG": str(state / "log.json"),
           "SEGREGATOR_CACHE_DIR": str(state / "cache"), "SEGREGATOR_LOCK_DIR": str(state / "locks"),
           "PYTHONPATH": str(REPO)}
    server = None
    try:
        if where == "local":
            folder = tmp / f"photos-{count}"
            shutil.copytree(images, folder, copy_function=os.link, ignore=shutil.ignore_patterns(".complete"))
            source = str(folder.resolve())
        else:
            from segregator.r2 import R2Config
            from segregator.s3server import LocalS3Server

            server = LocalS3Server(tmp / f"s3-{count}", "bench", secrets.token_hex(16)).start()
            config = R2Config(server.endpoint, server.access_key, server.secret_key)
            client = config.client()
            client.create_bucket(Bucket="scale")
            files = sorted(images.rglob("*.jpg"))
            start = time.perf_counter()
            with cf.ThreadPoolExecutor(32) as pool:
                list(pool.map(lambda p: client.put_object(Bucket="scale", Key="imgs/" + p.relative_to(images).as_posix(),
                                                          Body=p.read_bytes()), files))
            print(f"  (uploaded {len(files):,} objects in {time.perf_counter() - start:.0f} s)")
            env.update(R2_ENDPOINT=server.endpoint, R2_ACCESS_KEY=server.access_key, R2_SECRET_KEY=server.secret_key)
            source = "r2://scale/imgs/"
        settings = {"classifier.backend": classifier}
        c = _run_child("classify", {"source": source, "settings": settings}, env)
        plan = Path(c["result"]["plan"])
        _report("classify -> plan (job)", count, c["seconds"], c["peak_mb"], f"plan {_size(plan)}")
        a = _run_child("apply", {"plan": str(plan)}, env)
        journal = state / "journal" / "runs.sqlite"
        _report("apply (job)", count, a["seconds"], a["peak_mb"],
                f"moved {a['result']['summary']['moved']:,}; journal {_size(journal)}")
        if where == "local" and count >= 10_000:
            app_timing(state, folder, env, count)
        u = _run_child("undo", {"run_id": a["run_id"]}, env)
        _report("undo (job)", count, u["seconds"], u["peak_mb"],
                f"put back {u['result']['summary']['moved']:,}; journal {_size(journal)}; "
                f"jobs {_size(state / 'journal' / 'jobs.sqlite')}")
        plan_file = state / "plan.jsonl"
        s, peak = _cli_peak(["classify", source, "--plan-out", str(plan_file), "--quiet", "--classifier", classifier],
                            env)
        _report("classify --plan-out (CLI)", count, s, peak, f"plan file {_size(plan_file)} (cached analysis)")
        s, peak = _cli_peak(["apply", str(plan_file), "--yes", "--quiet"], env)
        _report("apply (CLI)", count, s, peak, f"journal {_size(journal)}")
    finally:
        if server:
            server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--where", nargs="+", default=["local", "r2"], choices=["local", "r2"])
    parser.add_argument("--classifier", default="learned", choices=["learned", "heuristic"])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PARAMS"))
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    for count in args.count:
        images = corpus(count)
        for where in args.where:
            print(f"{where}: {count:,} images ({args.classifier} classifier), {os.cpu_count()} cores", flush=True)
            with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
                run(where, count, args.classifier, images, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
