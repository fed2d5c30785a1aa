"""The analysis on a Dask cluster: `--cluster local:2` and a real `dask scheduler` + `dask worker` pair on 127.0.0.1
give the same results as this machine's pool, for a folder and for the SeaweedFS bucket; a worker killed mid-run
costs nothing (every object once); the R2 secret never reaches the scheduler, the task graph, or anything the
scheduler or the workers print or log."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segregator import compute, jobs
from segregator.storage import LocalStorage
from tests.conftest import PHOTOS, assert_no_secret, upload_folder

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _answers(results) -> list:
    """What a run decides per image: category and scores, hashes, placeholder decision, faces, model labels."""
    out = []
    for r in results:
        fp = r.fingerprint
        out.append((r.key, r.error, r.skipped, r.width, r.height, r.category,
                    r.classification.scores if r.classification else None,
                    (fp.phash, fp.dhash, fp.mirror, fp.crop, fp.thumb.tobytes()) if fp else None,
                    (r.placeholder.is_placeholder, r.placeholder.score, r.placeholder.ocr_text) if r.placeholder else None,
                    r.faces, r.model_labels, r.digest))
    return out


def _many(tmp_path: Path, n: int) -> tuple[Path, list[Path]]:
    """A folder of n hard links cycling through the test photos."""
    folder = tmp_path / "many"
    folder.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))
    for i in range(n):
        os.link(photos[i % len(photos)], folder / f"{i:03d}.jpg")
    return folder, photos


@pytest.fixture
def fresh_clusters():
    compute.close_clients()
    yield
    compute.close_clients()


def test_a_local_cluster_gives_the_pools_answers_on_a_folder_with_bad_files(mixed_folder, fresh_clusters):
    storage = LocalStorage(mixed_folder)
    settings = jobs.checked_settings(jobs.Settings())  # the default: the image model, faces, placeholders
    assert settings.classifier.backend == "learned"
    pool = list(jobs.iter_analysis(storage, "", settings, cache=False))
    seen = []
    cluster = list(jobs.iter_analysis(storage, "", settings, cache=False, cluster="local:2",
                                      progress=lambda d, t: seen.append((d, t))))
    assert _answers(cluster) == _answers(pool)
    assert {r.key for r in cluster if r.error} == {"broken.jpg"}  # a per-file error, the run went on
    assert any(r.category == "no_image" for r in cluster) and any(r.model_labels for r in cluster)
    assert seen[-1] == (len(pool), len(pool)) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    client = compute._client("local:2")
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in client.scheduler_info()["workers"])

    def malloc_state():  # Dask fixes the trim threshold in its workers' environment; the plugin set glibc's back
        import os

        from segregator import analysis

        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), analysis._large_buffers_kept.cache_info().currsize

    assert set(client.run(malloc_state).values()) == {("65536", 1)}


def test_a_local_cluster_gives_the_pools_answers_on_the_bucket(mixed_folder, bucket, r2_env, fresh_clusters):
    upload_folder(bucket, mixed_folder, "listing/")
    settings = jobs.checked_settings(jobs.Settings())
    pool = list(jobs.iter_analysis(bucket, "listing/", settings, cache=False))
    # the cluster's workers open the bucket from the environment they were started with (R2_* here)
    cluster = list(jobs.iter_analysis(bucket, "listing/", settings, cache=False, cluster="local:2"))
    assert _answers(cluster) == _answers(pool) and len(pool) == len(list(mixed_folder.rglob("*.*"))) - 1  # not notes.txt
    assert {r.key for r in cluster if r.error} == {"listing/broken.jpg"}


def test_a_worker_killed_mid_run_the_run_completes_with_every_object_once(tmp_path, monkeypatch, fresh_clusters):
    folder, photos = _many(tmp_path, 150)
    marker = tmp_path / "killed"
    # the first worker process to start its second task dies there (SIGKILL): its tasks are run again
    monkeypatch.setenv("SEGREGATOR_FAILPOINTS", f"analysis-batch@2=killonce:{marker}")
    settings = jobs.checked_settings(jobs.Settings().with_overrides({"classifier.backend": "heuristic"}))
    results = list(jobs.iter_analysis(LocalStorage(folder), "", settings, cache=False, cluster="local:2"))
    assert marker.exists()  # a worker really died
    assert sorted(r.key for r in results) == sorted(p.name for p in folder.iterdir())
    assert all(r.ok for r in results)
    by_name = {p.name: r for r in results for p in [folder / r.key]}
    assert by_name["000.jpg"].fingerprint.phash == by_name[f"{len(photos):03d}.jpg"].fingerprint.phash


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dask_scheduler_and_workers_classify_the_bucket_as_the_pool_does_and_never_see_the_secret(
        tmp_path, bucket, r2_env, photo_folder):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    upload_folder(bucket, photo_folder, "listing/")
    secret = r2_env.secret_key
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # the workers read the bucket with the key of their own environment; none is sent to them
    worker_env = {**env, "R2_ENDPOINT": r2_env.endpoint, "R2_ACCESS_KEY": r2_env.access_key, "R2_SECRET_KEY": secret}
    procs = []
    try:
        procs.append(subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
             "--preload", "tests.cluster_preload"],
            env=env, cwd=tmp_path, stdout=open(logs / "scheduler.out", "w"), stderr=subprocess.STDOUT))
        address = f"tcp://127.0.0.1:{port}"
        procs.append(subprocess.Popen(
            [str(BIN / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
             "--no-dashboard"],
            env=worker_env, cwd=tmp_path, stdout=open(logs / "workers.out", "w"), stderr=subprocess.STDOUT))
        from distributed import Client

        client = Client(address, timeout=30, set_as_default=False)
        client.wait_for_workers(2, timeout=60)

        cli_env = {**os.environ, **{k: worker_env[k] for k in ("R2_ENDPOINT", "R2_ACCESS_KEY", "R2_SECRET_KEY")}}
        cli = [sys.executable, "-m", "segregator", "classify", f"r2://{bucket.bucket}/listing/", "--json", "--no-cache"]
        local = subprocess.run(cli, env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert local.returncode == 0, local.stderr
        remote = subprocess.run([*cli, "--cluster", address], env=cli_env, cwd=REPO, capture_output=True, text=True,
                                timeout=300)
        assert remote.returncode == 0, remote.stderr
        rows = json.loads(remote.stdout)
        assert rows == json.loads(local.stdout)
        assert len(rows) == len(list(photo_folder.iterdir()))
        assert [r["key"] for r in rows if r["error"]] == ["broken.jpg"]
        assert_no_secret(remote.stderr + remote.stdout, "the CLI's output")

        specs = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["test-task-specs"].specs)
        assert len(specs) >= 1
        assert any(b"segregator-analyse" in s or b"analyse_task" in s for s in specs), "no analysis task was seen"
        for s in specs:
            assert secret.encode() not in s, "the secret travelled in a task"
        for name, text in [*client.get_worker_logs().items(), ("scheduler", client.get_scheduler_logs())]:
            assert_no_secret(json.dumps(text), f"the logs of {name}")
        client.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    for f in logs.iterdir():
        text = f.read_text(errors="replace")
        assert secret not in text, f"the secret appears in what {f.stem} printed"
    assert "worker" in (logs / "workers.out").read_text().lower()  # the output was captured


def _classify_on(cluster: str, src=PHOTOS, timeout=120, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segregator", "classify", str(src), "--cluster", cluster, "--json",
                           "--no-cache", "--classifier", "heuristic"], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "SEGREGATOR_DASK_TIMEOUT": "2", **env})


def test_cluster_addresses_are_checked_before_any_work():
    assert compute.cluster_spec("local:3") == "local:3"
    assert compute.cluster_spec("10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert compute.cluster_spec("pool") is None
    for bad in ("local:x", "local:0", "http://h:8786", "tcp://user:pw@h:8786", "tcp://h:abc", "tcp://h:8786?x",
                "tcp://h x:8786", "tcp://h:0", "tcp://h", "tls://h:8786"):
        with pytest.raises(ValueError):
            compute.cluster_spec(bad)
    p = _classify_on("tcp://127.0.0.1:abc")
    assert p.returncode == 2 or p.returncode == 1
    assert "not a Dask scheduler address" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_a_cluster_that_cannot_do_the_pass_ends_it_with_one_line_never_a_hang(tmp_path):
    t0 = time.monotonic()
    p = _classify_on(f"tcp://127.0.0.1:{_free_port()}")  # nothing listens there
    assert p.returncode != 0 and "cannot reach the Dask scheduler" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    with socket.socket() as silent:  # something that takes the connection and never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        p = _classify_on(f"tcp://127.0.0.1:{silent.getsockname()[1]}")
    assert p.returncode != 0 and "cannot reach the Dask scheduler" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert time.monotonic() - t0 < 60

    # every worker lost mid-run, none coming back: the pass stops with the reason
    folder, _ = _many(tmp_path, 200)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    workers = subprocess.Popen([str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads",
                                "1", "--host", "127.0.0.1", "--no-dashboard"], start_new_session=True,
                               env={**env, "SEGREGATOR_FAILPOINTS": "analysis-batch@*=sleep:3"}, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        cli = subprocess.Popen([sys.executable, "-m", "segregator", "classify", str(folder), "--cluster",
                                f"tcp://127.0.0.1:{port}", "--json", "--no-cache", "--classifier", "heuristic"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "SEGREGATOR_DASK_TIMEOUT": "2"})
        time.sleep(5)  # connected, working (a task takes 3 s or more)
        assert cli.poll() is None, cli.communicate()[1]
        os.killpg(workers.pid, 9)
        t1 = time.monotonic()
        out, err = cli.communicate(timeout=60)
        assert cli.returncode != 0 and "every worker of the Dask cluster" in err, err
        assert "Traceback" not in err and time.monotonic() - t1 < 30
    finally:
        for p in (workers, scheduler):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_a_restarted_worker_does_not_run_the_script_that_started_the_cluster_again(tmp_path):
    """The app runs each page as the main script; a worker process that the cluster starts again after a crash
    must not import it (it would run the page in the worker)."""
    folder, _ = _many(tmp_path, 120)
    ran = tmp_path / "page-ran-again"
    script = tmp_path / "page.py"
    script.write_text(f"""
import sys
if __name__ != "__main__":
    open({str(ran)!r}, "a").write(__name__ + "\\n")
else:
    from segregator import jobs
    from segregator.storage import LocalStorage
    settings = jobs.checked_settings(jobs.Settings().with_overrides({{"classifier.backend": "heuristic"}}))
    results = list(jobs.iter_analysis(LocalStorage({str(folder)!r}), "", settings, cache=False, cluster="local:2"))
    print(len(results), len({{r.key for r in results}}), all(r.ok for r in results))
""")
    marker = tmp_path / "killed"
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(REPO),
                            "SEGREGATOR_FAILPOINTS": f"analysis-batch@2=killonce:{marker}"})
    assert p.returncode == 0, p.stderr
    assert marker.exists() and p.stdout.split() == ["120", "120", "True"]
    assert not ran.exists(), ran.read_text()
