"""Runs and the trash, for the storage in view (resume an interrupted run, undo one, empty the trash), the
gallery's delete, and teach-by-example: each started as a job and shown by its progress, then its result."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from .. import auth, jobs
from ..journal import RunStore
from ..locking import blocking
from ..plan import write_plan
from ..runs import describe_run, latest_unfinished, runs
from ..storage import Storage
from .access import can_change, policy, user
from .jobview import job_outcome, latest_job, runner, source_spec, start_job, started_here

RUN_KINDS = ("resume", "undo", "empty_trash")
WORDS = {"resume": "Resumed", "undo": "Undone", "empty_trash": "Trash emptied"}


def _run_words(job) -> str:
    result = job.result or {}
    if job.kind == "empty_trash":
        extra = result.get("event", {}).get("extra", {})
        return f"Deleted {extra.get('deleted', 0):,} object(s) from the trash for good."
    s = result.get("summary", {})
    what = "Put back" if job.kind == "undo" else "Finished run"
    undone = (job.params or {}).get("run_id")  # the run undone; result's run_id is the undo's own run
    text = (f"{what} {s.get('moved', 0):,} file(s)" + (f" that run {undone} moved" if undone is not None else "")
            + f" (this undo: run {result.get('run_id')}); {s.get('failed', 0):,} could not be.") if job.kind == "undo" else \
        f"{what} {result.get('run_id')}: moved {s.get('moved', 0):,}, failed {s.get('failed', 0):,}."
    return text + (f" {result['stopped']}" if result.get("stopped") else "")


@st.dialog("Undo a run?")
def _confirm_undo(storage: Storage, run_id: int) -> None:
    in_view = source_spec(storage)
    try:
        action, run = jobs.undo_target(run_id)
        if action == "finish":
            st.write(f"Run {run.id} (an undo of run {run.undo_of}) was interrupted: it is finished first.")
        else:
            plan, storage, lost, lost_count = jobs.undo_plan(run, getattr(storage, "config", None))
            count = plan.summary_count()
            if count:
                st.write(f"Run {run.id} on {storage.description}: **{count:,} object(s)** go back where they were "
                         "(copies go to the trash). Nothing is overwritten.")
            else:
                st.write(f"Nothing of run {run.id} on {storage.description} can be put back any more.")
            if lost_count:
                st.warning(f"{lost_count:,} object(s) cannot be undone (changed or gone since the run): "
                           + ", ".join(lost[:5]) + (" …" if lost_count > 5 else ""))
            if not count:
                return
            head = [f"{i.source} → {i.destination}" for i, _ in zip(plan.items(), range(20))]
            if count > len(head):
                head.append(f"… and {count - len(head):,} more")
            st.code("\n".join(head), language=None)
    except (OSError, ValueError) as exc:
        st.error(str(exc))
        return
    if st.button("Undo it" if action == "undo" else "Finish it", type="primary"):
        job_id = start_job("undo", f"undo run {run.id}", source_spec(storage), {"run_id": run.id})
        if source_spec(storage) != in_view:
            st.session_state["runs_notice"] = (f"Undoing run {run.id} on {storage.description} as job {job_id}: "
                                               "its progress is on the 📋 Jobs page.")
        st.rerun()
    if st.button("Cancel"):
        st.rerun()


@st.dialog("Empty the trash?")
def _confirm_empty_trash(storage: Storage, count: int) -> None:
    st.write(f"**{count:,} object(s)** under `_trash/` in {storage.description} will be deleted for good. "
             "This cannot be undone.")
    sure = st.checkbox("I understand that these files cannot be recovered")
    typed = st.text_input("Type EMPTY to confirm")
    if st.button(f"Delete {count:,} object(s) for good", type="primary", disabled=not (sure and typed == "EMPTY")):
        start_job("empty_trash", "empty the trash", source_spec(storage), {"source": source_spec(storage)})
        st.rerun()


RUNS_ARE = ("A run is one plan carried out on the files: the journal that lets it be resumed or undone. Runs are "
            "numbered on their own, apart from jobs: the job that moved the files names its run (📋 Jobs, column run), "
            "and an undo is a run too.")


def runs_panel(storage: Storage) -> None:
    """Resume an interrupted run, undo the last one, empty the trash: for the storage in view only."""
    st.subheader("↩ Runs and trash")
    st.caption(RUNS_ARE)
    st.session_state["runs_drawn"] = time.time()  # see show_run_result: a run that ends after this redraws the page
    if st.session_state.get("runs_notice"):
        st.info(st.session_state.pop("runs_notice"))
    source = source_spec(storage)
    # a resume, undo or emptying at work here shows wherever the storage is in view; once it is over, only on the
    # page of the session that started it (until OK): not on every page that has this panel, after every reload,
    # nor another user's (the 📋 Jobs page lists them all)
    job = latest_job(RUN_KINDS, source, lambda j: j.id > st.session_state.get("runs_after", 0)
                     and (j.active or started_here(j)))
    if job is not None:
        if job_outcome(job, "runs_job", {"resume": "resuming a run", "undo": "undoing a run",
                                         "empty_trash": "emptying the trash"}[job.kind]):
            (st.warning if (job.result or {}).get("stopped") else st.success)(_run_words(job))
        if job.active:
            return
        if st.button("OK", key="runs_ok"):
            st.session_state["runs_after"] = job.id
            st.rerun()
    area = storage.lock_area()
    unfinished = latest_unfinished(area)
    if unfinished:
        busy = blocking(storage, unfinished.scope)
        counts = RunStore().counts(unfinished.id)
        total = sum(counts.values())
        if busy:
            st.info(f"Run {unfinished.id} is in progress: {busy[0].describe()}.")
        else:
            st.warning(f"Run {unfinished.id} stopped before it finished: {total - counts.get('pending', 0):,} of "
                       f"{total:,} item(s) settled" + (f" ({unfinished.note})" if unfinished.note else "") + ".")
            if can_change() and st.button("⏯ Resume it", type="primary"):
                start_job("resume", f"resume run {unfinished.id}", source, {"run_id": unfinished.id})
                st.rerun()
    try:
        _action, target = jobs.undo_target(area=area)
    except ValueError:
        target = None
    if target is not None and can_change() and st.button(f"↩ Undo run {target.id}" if target.kind == "run" else
                                        f"↩ Finish the interrupted undo (run {target.id})"):
        _confirm_undo(storage, target.id)
    try:
        trash = jobs.trash_keys(storage)
    except OSError as exc:
        st.error(f"Cannot list the trash: {exc}")
        return
    st.caption(f"Trash: {len(trash):,} object(s) under `_trash/`.")
    if trash and can_change() and st.button(f"🗑️ Empty trash ({len(trash):,})"):
        _confirm_empty_trash(storage, len(trash))
    past_runs(storage, area)


def past_runs(storage: Storage, area: str) -> None:
    """Every run, newest first: those of the storage in view, the others under a toggle; pick one to undo it
    (the parts that can still be undone) or to download what it moved."""
    from .jobview import mapping_downloads

    with st.expander("🕘 Past runs"):
        everywhere = st.toggle("Also runs on other folders and buckets", key="runs_everywhere")
        # runs on local folders outside those this app serves (the command line's, elsewhere) are not shown
        pol = policy()  # read once for the whole list
        listed = [r for r in runs(None if everywhere else area, limit=200)
                  if (r.storage or {}).get("kind") != "local"
                  or auth.folder_refusal(Path(r.storage.get("root", "/")), pol) is None]
        if not listed:
            st.caption("No runs here yet." + ("" if everywhere else " (Turn on the toggle to see the runs elsewhere.)"))
            return
        by_id = {r.id: r for r in listed}
        chosen = st.selectbox("Run", list(by_id), format_func=lambda i: describe_run(by_id[i]),
                              key=f"runs_pick_{listed[0].id}_{everywhere}")  # a newer run: shown first again
        run = by_id[chosen]
        store = RunStore()
        undone = store.undo_of(run.id) if run.kind == "run" else None
        if run.kind == "undo":
            st.caption(f"This run put back run {run.undo_of}.")
        elif undone is not None:
            st.caption(f"Undone by run {undone.id}.")
        elif can_change() and st.button(f"↩ Undo run {run.id}", key="runs_pick_undo"):
            _confirm_undo(storage, run.id)
        mapping_downloads(run.id, f"past_{run.id}")


def delete_to_trash(storage: Storage, prefix: str, keys: list[str]) -> int:
    """The gallery's delete: a plan moving the keys into _trash/<time>/, run as a job; returns its number."""
    from ..jobs.kinds import plans_dir

    plan = jobs.trash_plan(storage, keys, prefix)
    path = plans_dir() / f"trash-{time.time_ns()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_plan(plan, path)
    return runner().submit("apply", f"delete {len(keys)} file(s) to the trash", source_spec(storage, prefix),
                           {"plan": str(path), "copy": False, "check": False, "trash": True}, user=user())


def _examples_problem(storage: Storage, folder: str) -> str | None:
    """Why this examples folder cannot be taught from (jobs.teach.examples_check), said before a job analyses
    it; None when it can, and then its categories are listed."""
    from ..jobs.teach import examples_check

    try:
        categories, others = examples_check(storage, folder)
    except ValueError as exc:
        return str(exc)
    st.caption(f"Categories: {', '.join(categories[:12])}" + (f" and {len(categories) - 12} more" if len(categories) > 12 else "")
               + (" · and examples of none of these" if others else ""))
    return None


def teach_panel(storage: Storage, prefix: str) -> None:
    """Teach by example, as a job: a folder with one subfolder per category (its name is the category) becomes
    a classifier, saved and offered (and selected) in the Classifier list."""
    from ..learned import available

    with st.expander("🎓 Teach your own categories"):
        if not available():
            st.info("Teaching needs the image model (onnxruntime and segregator/models/efficientnet_lite0.onnx).")
            return
        st.caption("Point at a folder with one subfolder per category, e.g. `Kitchen/`, `Bathroom/`, `Floor plan/`, "
                   "each holding example images. The folder names become the categories. A subfolder named "
                   "`none of these/` holds examples of what belongs to none of them: images like those stay where "
                   "they are.")
        folder = st.text_input("Examples folder (in the current source)", value=prefix, key="teach_folder")
        name = st.text_input("Name for this classifier", value="my_categories", key="teach_name")
        source = source_spec(storage)
        problem = _examples_problem(storage, folder)
        if problem:
            st.caption(f"⚠️ {problem}")
        if not can_change():
            st.info("👁️ You are signed in as a viewer: teaching a classifier (every user of the app shares it) "
                    "needs an editor.")
        elif st.button("Teach", key="teach_go", disabled=problem is not None):
            start_job("teach", f"teach '{name}'", source, {"source": source, "examples_prefix": folder.strip().strip("/"), "name": name})
            st.rerun()
        job = latest_job("teach", source, lambda j: j.id > st.session_state.get("teach_after", 0))
        if job is None or not job_outcome(job, "teach_job", "teaching"):
            return
        result = job.result or {}
        counts = result.get("categories", {})
        if st.session_state.get("teach_selected") != job.id:  # a new classifier: choose it once
            st.session_state["teach_selected"] = job.id
            st.session_state["classifier"] = f"taught:{result.get('name')}"
            st.rerun()
        st.success(f"Learned {jobs.describe_taught(counts)}. Saved as **{result.get('name')}** and selected.")
        if result.get("errors"):
            st.warning(f"{len(result['errors'])} example(s) could not be read: "
                       + ", ".join(e["key"] for e in result["errors"][:5]))
