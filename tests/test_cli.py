"""The CLI's output contract, run as a user runs it: `python -m segregator ...` in a subprocess."""

import json
import os
import subprocess
import sys

import pytest

from segregator.settings import CATEGORIES
from tests.conftest import PHOTOS, REPO, assert_no_secret, plan_dict


def run(*args, stdin=None):
    """The CLI as a user runs it; its output never holds a secret key."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "segregator", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, env=env, input=stdin, timeout=300)
    assert_no_secret(p.stdout + p.stderr, f"the output of {' '.join(map(str, args))}")
    return p


def test_classify_json_contract(mixed_folder):
    p = run("classify", mixed_folder, "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert all(set(r) == {"key", "category", "confidence", "error"} for r in rows)
    by_key = {r["key"]: r for r in rows}
    assert "notes.txt" not in by_key
    assert by_key["listing_7/no_image.png"]["category"] == "no_image"
    assert by_key["broken.jpg"]["error"] == "truncated JPEG"
    for r in rows:
        if r["error"] is None:
            assert r["category"] in CATEGORIES + ("no_image",)
            assert 0 <= r["confidence"] <= 1
    assert "analysing" in p.stderr  # progress bar on stderr, never on stdout


def test_placeholders_json_contract(mixed_folder):
    p = run("placeholders", mixed_folder, "--json", "--quiet")
    assert p.returncode == 0, p.stderr
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert all(set(r) == {"key", "placeholder", "reasons", "error"} for r in rows.values())
    assert rows["agent.png"]["placeholder"] is True and rows["agent.png"]["reasons"]
    assert rows["chelsea.jpg"]["placeholder"] is False
    assert rows["broken.jpg"]["error"]


def test_similar_json_contract_and_plan_apply(mixed_folder, tmp_path, isolated_log):
    ref = tmp_path / "ref.jpg"
    ref.write_bytes((PHOTOS / "coffee.jpg").read_bytes())
    plan = tmp_path / "plan.json"
    p = run("similar", mixed_folder, "--reference", ref, "--json", "--quiet", "--plan-out", plan, "--output", "cups")
    assert p.returncode == 0, p.stderr
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert all(set(r) == {"key", "match", "hamming", "pixel_similarity", "error"} for r in rows.values())
    assert rows["listing_7/kitchen.jpg"]["match"] is True and rows["listing_7/kitchen.jpg"]["hamming"] == 0
    assert rows["chelsea.jpg"]["match"] is False and isinstance(rows["chelsea.jpg"]["hamming"], int)
    assert 0 <= rows["chelsea.jpg"]["pixel_similarity"] <= 1
    assert (mixed_folder / "listing_7" / "kitchen.jpg").exists()  # --plan-out moves nothing

    refused = run("apply", plan)  # no --yes and no terminal: refuses
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert (mixed_folder / "listing_7" / "kitchen.jpg").exists()
    declined = json.loads(run("jobs", "--json", "--limit", "1").stdout)[0]  # not confirmed: cancelled, not failed
    assert declined["kind"] == "apply" and declined["state"] == "cancelled", declined
    assert declined["error"] == "not confirmed: run again with --yes"

    applied = run("apply", plan, "--yes", "--quiet")
    assert applied.returncode == 0, applied.stderr
    assert not (mixed_folder / "listing_7" / "kitchen.jpg").exists()
    assert (mixed_folder / "cups" / "kitchen.jpg").read_bytes() == (PHOTOS / "coffee.jpg").read_bytes()
    assert (mixed_folder / "chelsea.jpg").exists()
    event = json.loads(isolated_log.read_text())[-1]
    assert event["event_type"] == "local_by_reference" and event["results"]["moved_count"] == 1


def test_json_output_is_exactly_the_contracted_array(mixed_folder, tmp_path):
    """Streamed, the rows come out byte for byte as json.dump(rows, indent=2) writes the whole list."""
    p = run("classify", mixed_folder, "--json", "--quiet", "--classifier", "heuristic")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert p.stdout == json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    (tmp_path / "empty").mkdir()
    assert run("classify", tmp_path / "empty", "--json", "--quiet").stdout == "[]\n"


def test_plan_files_stream_as_json_lines(mixed_folder, tmp_path):
    from segregator.plan import PlanFile

    plan = tmp_path / "plan.jsonl"
    assert run("classify", mixed_folder, "--plan-out", plan, "--quiet", "--classifier", "heuristic").returncode == 0
    lines = plan.read_text().splitlines()
    assert json.loads(lines[0])["plan"]["kind"] == "classify" and "end" in json.loads(lines[-1])
    read = PlanFile(plan)
    assert len(list(read.items())) == len(lines) - 2 and read.signed is True
    plan.write_text("\n".join(lines[:-1]) + "\n")  # cut short, as a crash mid-write would leave it
    p = run("apply", plan, "--yes")
    assert p.returncode == 1 and "cut short" in p.stderr


def test_classify_plan_then_apply_with_copy(mixed_folder, tmp_path):
    plan = tmp_path / "plan.json"
    assert run("classify", mixed_folder, "--plan-out", plan, "--quiet").returncode == 0
    data = plan_dict(plan)
    assert data["kind"] == "classify" and data["items"]
    p = run("apply", plan, "--yes", "--copy", "--json", "--quiet")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["summary"]["copied"] == sum(1 for i in data["items"] if i["action"] == "move" and i["source"] != i["destination"])
    assert (mixed_folder / "chelsea.jpg").exists()  # copies keep the originals
    assert (mixed_folder / "no_image" / "agent.png").exists()


@pytest.mark.parametrize("args, message", [
    (["classify", "/nonexistent/folder"], "cannot read source"),
    (["similar", str(PHOTOS), "--reference", "/nonexistent.jpg"], "cannot read reference"),
    (["classify", str(PHOTOS), "--set", "nope=1"], "unknown setting"),
    (["apply", "/nonexistent/plan.json", "--yes"], "cannot read plan"),
    (["classify", str(PHOTOS), "--plan-out", "/nonexistent/folder/plan.jsonl"], "its folder does not exist"),
    (["jobs", "show"], "jobs show needs a job number"),
])
def test_errors_are_one_line_and_non_zero(args, message):
    p = run(*args)
    assert p.returncode != 0
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "Traceback" not in p.stderr


def test_bad_arguments_exit_non_zero():
    assert run("classify").returncode == 2
    assert run("frobnicate").returncode == 2
    for workers in ("0", "-2"):
        p = run("classify", PHOTOS, "--workers", workers)
        assert p.returncode == 2 and "must be 1 or more" in p.stderr


def test_reference_that_is_not_an_image(tmp_path):
    bad = tmp_path / "ref.jpg"
    bad.write_text("<html>")
    p = run("similar", PHOTOS, "--reference", bad)
    assert p.returncode == 1 and "not an image" in p.stderr


def test_jobs_commands_list_show_and_cancel_a_running_cli_job(tmp_path):
    """Every CLI command is a job in the store the app reads; `jobs cancel` stops one between two batches,
    leaving its run consistent (and resumable)."""
    import time

    from segregator.plan import MovePlan, PlanItem, write_plan
    from segregator.storage import LocalStorage
    from tests.faultlib import finish, spawn

    root = tmp_path / "root"
    root.mkdir()
    for i in range(200):
        (root / f"p{i:03d}.jpg").write_bytes(b"%d" % i)
    storage = LocalStorage(root)
    write_plan(MovePlan("classify", storage.record(), "", "", [PlanItem(f"p{i:03d}.jpg", f"sorted/p{i:03d}.jpg")
                                                             for i in range(200)]), tmp_path / "plan.jsonl")
    proc = spawn("apply", tmp_path / "plan.jsonl", "--yes",
                 extra={"SEGREGATOR_MOVE_BATCH": "5", "SEGREGATOR_FAILPOINTS": "batch-start@*=sleep:0.1"})
    job = None
    for _ in range(200):
        listed = run("jobs", "--json")
        assert listed.returncode == 0, listed.stderr
        jobs = json.loads(listed.stdout)
        job = next((j for j in jobs if j["kind"] == "apply" and j["state"] == "running" and j["run_id"]), None)
        if job:
            break
        time.sleep(0.05)
    assert job, "the apply never showed as a running job"
    shown = json.loads(run("jobs", "show", job["id"], "--json").stdout)
    assert shown["id"] == job["id"] and shown["source"] == str(tmp_path / "plan.jsonl")
    assert run("jobs", "cancel", job["id"]).returncode == 0
    assert finish(proc) == 0
    after = json.loads(run("jobs", "show", job["id"], "--json").stdout)
    assert after["state"] == "cancelled", after
    moved = len(list((root / "sorted").iterdir()))
    assert 0 < moved < 200 and moved + len(list(root.glob("*.jpg"))) == 200  # consistent: each file once
    assert run("resume", "--quiet").returncode == 0
    assert len(list((root / "sorted").iterdir())) == 200


def test_runs_export_maps_old_keys_to_new_ones(mixed_folder, tmp_path, monkeypatch):
    import csv

    monkeypatch.setenv("R2_PUBLIC_BASE_URL", "https://img.example.com/")
    plan = tmp_path / "plan.jsonl"
    assert run("classify", mixed_folder, "--plan-out", plan, "--quiet", "--classifier", "heuristic").returncode == 0
    p = run("apply", plan, "--yes", "--quiet", "--report", tmp_path / "moves.csv")
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader((tmp_path / "moves.csv").open()))
    moved = {r["old_key"]: r for r in rows if r["status"] == "moved"}
    assert moved["agent.png"]["new_key"] == "no_image/agent.png"
    assert moved["agent.png"]["new_url"] == "https://img.example.com/no_image/agent.png"
    assert all((mixed_folder / r["new_key"]).exists() for r in moved.values())
    exported = json.loads(run("runs", "export", "1", "--format", "json").stdout)
    assert {r["old_key"]: r["new_key"] for r in exported} == {r["old_key"]: r["new_key"] for r in rows}


def test_an_analysis_worker_killed_mid_pass_is_replaced_and_the_pass_completes(tmp_path, monkeypatch):
    """A worker that dies (SIGKILL, as the out-of-memory killer does) breaks its pool: a new pool gets the
    batches that were in flight, and every image still gets its result, once, in order."""
    from PIL import Image

    photos = sorted(PHOTOS.glob("*.jpg"))
    for i in range(120):
        Image.open(photos[i % len(photos)]).convert("RGB").resize((96 + i, 64 + i)).save(tmp_path / f"img{i:03d}.jpg")
    marker = tmp_path / "killed"
    monkeypatch.setenv("SEGREGATOR_FAILPOINTS", f"analysis-batch@3=killonce:{marker}")
    p = run("classify", tmp_path, "--json", "--quiet", "--workers", "2", "--classifier", "heuristic", "--no-cache")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert marker.exists()  # a worker was killed
    assert [r["key"] for r in rows] == [f"img{i:03d}.jpg" for i in range(120)]
    assert all(r["error"] is None and r["category"] for r in rows)
