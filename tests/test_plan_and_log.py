import json
import os
import shutil
import subprocess
import sys

import pytest

from segregator import jobs
from segregator.plan import MovePlan, PlanItem
from segregator.session_log import SessionLog, make_event
from segregator.settings import CATEGORIES
from segregator.storage import LocalStorage
from tests.conftest import PHOTOS, REPO


def _plan(storage, items, source="", output=""):
    return MovePlan("classify", jobs.storage_record(storage), source, output, items)


def test_plan_round_trips_as_json(mixed_folder):
    storage = LocalStorage(mixed_folder)
    results = jobs.analyse_source(storage, workers=1)
    plan = jobs.classification_plan(storage, results)
    data = json.loads(plan.to_json())
    assert data["kind"] == "classify" and data["summary"]["total"] == len(results)
    again = MovePlan.from_json(plan.to_json())
    assert [(i.source, i.destination, i.action) for i in again.items] == [(i.source, i.destination, i.action) for i in plan.items]


def test_classification_plan_destinations(mixed_folder):
    storage = LocalStorage(mixed_folder)
    results = jobs.analyse_source(storage, workers=1)
    plan = jobs.classification_plan(storage, results)
    by_source = {i.source: i for i in plan.items}
    assert by_source["broken.jpg"].action == "keep" and "truncated JPEG" in by_source["broken.jpg"].reason
    assert by_source["listing_7/no_image.png"].destination == "no_image/no_image.png"
    assert by_source["agent.png"].destination == "no_image/agent.png"
    photo = by_source["chelsea.jpg"]
    assert photo.destination.split("/")[0] in CATEGORIES and photo.destination.endswith("/chelsea.jpg")
    assert "notes.txt" not in by_source
    assert set(plan.by_destination()) >= {"no_image/", ""}


def test_execute_moves_verifies_and_never_overwrites(mixed_folder):
    storage = LocalStorage(mixed_folder)
    (mixed_folder / "Nature").mkdir()
    shutil.copy2(PHOTOS / "flower.jpg", mixed_folder / "Nature" / "chelsea.jpg")  # a different file, same name
    before = (mixed_folder / "chelsea.jpg").read_bytes()
    plan = _plan(storage, [
        PlanItem("chelsea.jpg", "Nature/chelsea.jpg"),
        PlanItem("beach.jpg", "beach.jpg"),
        PlanItem("astronaut.jpg", "astronaut.jpg", "keep"),
        PlanItem("gone.jpg", "Nature/gone.jpg"),
    ])
    report, _ = jobs.run_plan(plan, storage)
    statuses = {r.source: (r.status, r.destination) for r in report.results}
    assert statuses["chelsea.jpg"] == ("moved", "Nature/chelsea_1.jpg")
    assert statuses["gone.jpg"][0] == "failed" and "not found" in report.errors[0]["error"]
    assert "beach.jpg" not in statuses and "astronaut.jpg" not in statuses  # they stay: counted as unchanged
    assert (mixed_folder / "Nature" / "chelsea_1.jpg").read_bytes() == before
    assert (mixed_folder / "Nature" / "chelsea.jpg").read_bytes() == (PHOTOS / "flower.jpg").read_bytes()
    assert not (mixed_folder / "chelsea.jpg").exists()
    assert report.summary() == {"moved": 1, "copied": 0, "unchanged": 2, "failed": 1, "total": 4}


def test_copy_mode_keeps_originals(mixed_folder):
    storage = LocalStorage(mixed_folder)
    report, _ = jobs.run_plan(_plan(storage, [PlanItem("beach.jpg", "Nature/beach.jpg")]), storage, copy=True)
    assert report.results[0].status == "copied"
    assert (mixed_folder / "beach.jpg").exists() and (mixed_folder / "Nature" / "beach.jpg").exists()


@pytest.mark.parametrize("bad", ["../outside.jpg", "/etc/passwd", "a/../../x.jpg", "", "a/./x.jpg", "a//x.jpg",
                                 ".segregator/locks/x.jpg", "x.png", "d/.x.jpg.1.r2.segregator-part"])
def test_unsafe_plans_are_refused(mixed_folder, bad):
    storage = LocalStorage(mixed_folder)
    plan = _plan(storage, [PlanItem("beach.jpg", bad)])
    with pytest.raises(ValueError, match="plan refused"):
        jobs.run_plan(plan, storage)
    assert (mixed_folder / "beach.jpg").exists()


def test_plan_keys_must_stay_under_its_roots(mixed_folder):
    storage = LocalStorage(mixed_folder)
    plan = _plan(storage, [PlanItem("listing_7/kitchen.jpg", "elsewhere/kitchen.jpg")], "listing_7/", "listing_7/similar/")
    with pytest.raises(ValueError, match="outside"):
        jobs.run_plan(plan, storage)
    # each side is checked on its own: an empty prefix on one side does not switch the other's check off
    with pytest.raises(ValueError, match="outside the plan's output folder"):
        jobs.run_plan(_plan(storage, [PlanItem("agent.png", "elsewhere/agent.png")], "", "x/"), storage)
    with pytest.raises(ValueError, match="outside the plan's source folder"):
        jobs.run_plan(_plan(storage, [PlanItem("agent.png", "x/agent.png")], "listing_7/", ""), storage)


def test_malformed_plan_files():
    with pytest.raises(ValueError, match="not valid JSON"):
        MovePlan.from_json("{nope")
    with pytest.raises(ValueError, match="not a move plan"):
        MovePlan.from_json("[]")
    with pytest.raises(ValueError, match="unknown action"):
        MovePlan.from_json(json.dumps({"items": [{"source": "a", "destination": "b", "action": "delete"}]}))
    for bad in ({"items": "x"}, {"items": [1]}, {"items": [], "storage": []}, {"items": [], "storage": {"root": 5}},
                {"items": [{"source": "a", "destination": "b", "source_size": "big"}]},
                {"items": [{"source": "a", "destination": "b", "scores": []}]}, {"items": [], "kind": 3},
                {"items": [{"source": "a", "destination": "b", "confidence": True}]}):
        with pytest.raises(ValueError):
            MovePlan.from_json(json.dumps(bad))
    with pytest.raises(ValueError, match="nested too deeply"):
        MovePlan.from_json("[" * 100_000)


def test_user_edits_to_a_plan(mixed_folder):
    storage = LocalStorage(mixed_folder)
    plan = jobs.classification_plan(storage, jobs.analyse_source(storage, workers=1))
    edited = jobs.edit_plan(plan, keep=["beach.jpg"], recategorise={"chelsea.jpg": "Nature"})
    items = {i.source: i for i in edited.items}
    assert items["beach.jpg"].action == "keep" and items["beach.jpg"].destination == "beach.jpg"
    assert items["chelsea.jpg"].destination == "Nature/chelsea.jpg"
    # the model's confidence was for its own category: a category set by hand has none
    assert items["chelsea.jpg"].confidence is None and items["chelsea.jpg"].reason == "set to Nature by the user"
    assert {i.source: i.destination for i in plan.items}["beach.jpg"] != "beach.jpg"  # original untouched
    assert {i.source: i.confidence for i in plan.items}["chelsea.jpg"] is not None
    # the same edit on the app's stored plan
    from segregator.plandb import PlanDB, PlanFilter

    db = PlanDB.create(mixed_folder.parent / "plan.sqlite", plan, plan.items)
    (n, before), = [(n, i) for n, i in db.page(PlanFilter(text="chelsea"), 0, 5)]
    assert before.confidence is not None
    db.recategorise({n: "Nature"})
    (_, after), = db.page(PlanFilter(text="chelsea"), 0, 5)
    assert after.category == "Nature" and after.destination == "Nature/chelsea.jpg" and after.confidence is None
    with pytest.raises(ValueError):
        jobs.edit_plan(plan, recategorise={"chelsea.jpg": "Cats"})


def test_run_plan_logs_an_event_in_the_spec_shape(mixed_folder, isolated_log):
    storage = LocalStorage(mixed_folder)
    plan = _plan(storage, [PlanItem("beach.jpg", "Nature/beach.jpg"), PlanItem("astronaut.jpg", "astronaut.jpg", "keep")])
    report, event = jobs.run_plan(plan, storage)
    events = json.loads(isolated_log.read_text())
    assert events == [event]
    assert set(event) == {"timestamp", "user", "event_type", "bucket", "folder", "source_prefix", "output_prefix",
                          "results", "extra"}
    assert event["folder"] == str(mixed_folder.resolve()) and event["bucket"] == ""  # which folder, not only ""
    assert event["user"].startswith("local:")  # a library call: this machine's user
    assert event["event_type"] == "local_full_folder"
    assert event["results"] == {"moved_count": 1, "unchanged_count": 1, "copied_count": 0, "failed_count": 0}
    assert event["extra"]["total_processed"] == 2 and event["extra"]["moved"] == 1
    assert event["timestamp"].endswith("+00:00")


def test_a_copy_run_logs_its_copies_as_copied_not_moved(mixed_folder, isolated_log):
    storage = LocalStorage(mixed_folder)
    plan = _plan(storage, [PlanItem("beach.jpg", "Nature/beach.jpg"), PlanItem("listing_7/kitchen.jpg", "Food/kitchen.jpg")])
    _, event = jobs.run_plan(plan, storage, copy=True)
    assert (mixed_folder / "beach.jpg").exists() and (mixed_folder / "Nature/beach.jpg").exists()
    assert event["results"]["moved_count"] == 0 and event["results"]["copied_count"] == 2
    assert event["extra"]["mode"] == "copy" and event["extra"]["copied"] == 2 and event["extra"]["moved"] == 0


APPEND_MANY = """
import sys
from segregator.session_log import SessionLog, make_event
log = SessionLog(sys.argv[1])
for i in range(25):
    log.append(make_event("test", "", "", "", i, 0))
"""


def test_log_stays_valid_json_under_concurrent_writers(tmp_path):
    path = tmp_path / "log.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", APPEND_MANY, str(path)], env=env) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    events = json.loads(path.read_text())
    assert len(events) == 75


def test_corrupt_log_is_kept_aside_not_lost(tmp_path):
    path = tmp_path / "log.json"
    path.write_text("{broken")
    SessionLog(path).append(make_event("x", "", "", "", 0, 0))
    assert len(json.loads(path.read_text())) == 1
    kept = list(tmp_path.glob("log.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{broken"


def test_journal_commits_are_fenced_by_their_owner(tmp_path):
    """A process that lost its run (another took it over) can write nothing more to it."""
    from segregator.journal import LostOwnership, RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    storage = LocalStorage(tmp_path)
    plan = _plan(storage, [PlanItem(f"{i}.jpg", f"d/{i}.jpg") for i in range(3)])
    run, _ = store.create(plan, plan.items, storage.record(), storage.lock_area(), "", False, "owner-a")
    store.commit(run, "owner-a", [(0, {"target": "d/0.jpg"})])
    store.take_over(run, "owner-b")
    with pytest.raises(LostOwnership):
        store.commit(run, "owner-a", [(1, {"target": "d/1.jpg"})])
    assert [r.target for r in store.items(run)] == ["d/0.jpg", None, None]
    again, _ = store.create(plan, plan.items, storage.record(), storage.lock_area(), "", False, "owner-c")
    assert again > run  # ids only grow: "the latest run" is the highest


def test_a_plan_refused_halfway_leaves_no_run(tmp_path):
    """Items are checked as they are written to the journal, in one transaction: one bad item at the end
    means no run at all (nothing to resume)."""
    from segregator.journal import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    storage = LocalStorage(tmp_path)
    items = [PlanItem(f"{i}.jpg", f"d/{i}.jpg") for i in range(12_000)] + [PlanItem("0.jpg", "e/0.jpg")]
    with pytest.raises(ValueError, match="listed twice"):
        jobs.run_plan(_plan(storage, items), storage)
    assert store.runs() == []
