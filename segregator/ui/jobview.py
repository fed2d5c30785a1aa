"""Pages on top of the job runner: a job is started with a button, runs in the server's runner (never in the
script run, so a click, a page switch, a reload or a second tab leaves it running), and every page shows the
latest job of its kind for the source in view: live progress while it runs, its plan or result when done."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from .. import jobs
from ..jobs.runner import MOVE_KINDS, Job, JobRunner, JobStore
from ..plandb import PlanDB, PlanFilter
from ..auth import NotAllowed
from ..storage import Storage
from .access import can_act_on, can_change, user, viewer_note, write_blocked
from .previews import THUMBS_PER_PAGE, show_grid

PAGE_ROWS = 50
ALL = "\x00all"  # the plan filter's "every destination" (no folder key can hold a NUL)
MAX_DOWNLOAD_ITEMS = 200_000  # larger plans: their file's path and the CLI command instead of a download


@st.cache_resource(show_spinner=False)
def _runners() -> dict:
    return {}


def runner() -> JobRunner:
    """The server's one job runner (threads of the Streamlit server process, shared by every session), for
    the job store in use (a new one when the store moves, as between tests)."""
    from ..jobs.runner import jobs_path

    runners, path = _runners(), str(jobs_path())
    if path not in runners:
        for old in runners.values():
            old.stop()
        runners.clear()
        runners[path] = JobRunner(JobStore(path))
    return runners[path]


def store() -> JobStore:
    return runner().store


def source_spec(storage: Storage, prefix: str = "") -> str:
    """What a job works on, as the CLI spells it: a folder path or r2://bucket/prefix."""
    if storage.kind == "r2":
        return f"r2://{storage.bucket}/{prefix}"
    return str(storage.root / prefix) if prefix else str(storage.root)


def latest_job(kinds, source: str, match=None) -> Job | None:
    """The most recent job of these kinds on this source (and passing `match`)."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    for job in store().list(limit=50, source=source, kinds=kinds):
        if match is None or match(job):
            return job
    return None


def start_job(kind: str, label: str, source: str, params: dict, match=None) -> int | None:
    """Submit a job, unless one of this kind is already at work on this source (a second tab, a double
    click): then that one is shown instead of starting another."""
    running = latest_job(kind, source, lambda j: j.active and (match is None or match(j)))
    if running is not None:
        st.session_state["job_notice"] = f"Job {running.id} is already doing this: showing it."
        return _mine(running.id)
    if kind not in MOVE_KINDS:  # an analysis: where the sidebar says it runs
        from .common import compute_choice

        try:
            params = {**params, "cluster": compute_choice()}
        except ValueError as exc:
            st.session_state["job_notice"] = f"Not started: {exc}"
            return None
    try:  # the engine decides who may run what (segregator.auth): a viewer's move is refused there
        return _mine(runner().submit(kind, label, source, params, user=user()))
    except NotAllowed as exc:
        st.session_state["job_notice"] = f"Refused: {exc}"
        return None


def _this_page() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx else ""


def _mine(job_id: int) -> int:
    """Note a job as started (or joined) on this page of this session: its outcome is this page's to show."""
    st.session_state.setdefault("my_jobs", {})[job_id] = _this_page()
    return job_id


def started_here(job: Job) -> bool:
    """Whether this page of this session started the job."""
    return st.session_state.get("my_jobs", {}).get(job.id) == _this_page()


def job_progress(job: Job, key: str) -> None:
    """A running job's progress (count, rate, ETA), redrawn every second by itself, with pause, go on and
    cancel. When the job ends, the whole page is drawn again to show its result."""
    @st.fragment(run_every=1.0)
    def panel() -> None:
        now = store().get(job.id)
        if not now.active:
            st.rerun()
        fraction = min(1.0, now.done / now.total) if now.total else 0.0
        state = _queued_text(now) if now.status == "queued" else "paused" if now.status == "paused" else ""
        st.progress(fraction, text=f"Job {now.id}: {now.progress_text()}" + (f" — {state}" if state else ""))
        if not can_act_on(now):
            st.caption("This job runs on the server. 👁️ It changes storage: pausing or cancelling it needs an editor.")
            return
        left, right, _ = st.columns([1, 1, 4])
        try:
            if now.status == "paused":
                if left.button("▶ Go on", key=f"{key}_go"):
                    runner().request(now.id, "resume", user())
            elif now.status == "running" and left.button("⏸ Pause", key=f"{key}_pause"):
                runner().request(now.id, "pause", user())
            if right.button("✖ Cancel", key=f"{key}_cancel"):
                runner().request(now.id, "cancel", user())
        except (ValueError, PermissionError) as exc:  # the job ended meanwhile; or the engine refused
            st.error(str(exc))
        st.caption("This job runs on the server: you can switch pages, reload or close this tab; it goes on.")

    panel()


def _queued_text(job: Job) -> str:
    """What a queued job is waiting for, as it is now (see JobRunner.waiting_for)."""
    ahead = runner().waiting_for(job)
    if ahead is None:
        return "queued for another server process: it starts there"
    if not ahead:
        return "next to start"
    first, more = ahead[0], len(ahead) - 1
    return (f"waiting for job {first.id} ({first.label}, {first.status})"
            + (f" and {more:,} more job(s)" if more else "") + " ahead of it")


def show_notice() -> None:
    notice = st.session_state.pop("job_notice", None)
    if notice:
        st.info(notice)


def job_outcome(job: Job, key: str, what: str) -> bool:
    """Draw a job that is not done (running, queued, paused, interrupted, failed, cancelled); True when it is
    done and its result can be shown."""
    status = job.status
    if job.active:
        job_progress(job, key)
        return False
    if status == "interrupted":
        st.warning(f"Job {job.id} ({what}) was interrupted: the server stopped while it ran.")
        if (job.kind not in MOVE_KINDS or can_change()) and st.button("⏯ Resume it", key=f"{key}_resume",
                                                                        type="primary"):
            try:
                runner().resume(job.id, user=user())
            except NotAllowed as exc:
                st.session_state["job_notice"] = f"Refused: {exc}"
            st.rerun()
        return False
    if status == "failed":
        st.error(f"Job {job.id} ({what}) failed: {job.error}")
        return False
    if status == "cancelled":
        st.warning(f"Job {job.id} ({what}) was cancelled.")
        return False
    return True


def analysis_step(storage: Storage, prefix: str, page: str, kind: str, button: str, what: str,
                  params: dict, label: str) -> PlanDB:
    """The analyse button and the page's latest analysis job for this source: its progress while it runs,
    its plan (a PlanDB) when done. Stops the page before that."""
    source = source_spec(storage, prefix)
    params = {"source": source, **params}
    problem = st.session_state.get("input_problem")  # an input above cannot be used (it says why)
    if st.button(button, type="primary", key=f"{page}_analyse", disabled=problem is not None,
                 help=f"Mend this first: {problem}" if problem else None):
        start_job(kind, label, source, params)
        st.session_state.pop(f"{page}_confirmed", None)
        st.rerun()
    show_notice()
    from .common import keep_in_url

    keep_in_url(**{f"{page}_after": (f"{page}_after", 0)})  # "Start over" outlives a reload (in the URL)
    after = st.session_state.get(f"{page}_after", 0)  # "Start over": earlier jobs are done with
    # a job done without a plan (an analysis run from the command line, which writes its plan to a file or
    # stdout) is not this page's: the page shows the latest that made one
    job = latest_job(kind, source, lambda j: j.id > after and j.params.get("recursive", True) == params.get("recursive", True)
                     and (j.status != "done" or "plan" in (j.result or {})))
    if job is None:
        st.info(f"Press **{button}** to {what} {storage.description}{f' under `{prefix}`' if prefix else ''}. "
                "Nothing moves until you confirm.")
        st.stop()
    if not job_outcome(job, f"{page}_job", job.label):  # "what" reads on after the source: "classify the images in"
        st.stop()
    stale = problem is not None or jobs.result_options(kind, job.params) != jobs.result_options(kind, params)
    # the confirm step offers no move for such results, and says what to do instead
    st.session_state[f"{page}_stale"] = None if not stale else "" if problem is not None else button
    if problem is not None:
        st.warning(f"These results (job {job.id}) cannot be moved while an option above cannot be used: mend it.")
    elif stale:
        st.warning(f"These results (job {job.id}) were made with other settings or options than those chosen now: "
                   f"press **{button}** to analyse again with them (or set the options back to move these).")
    db = PlanDB(job.result["plan"])
    summary = db.summary()
    if not summary["total"]:
        st.warning("No images found here.")
        st.stop()
    if summary["errors"]:
        st.caption(f"⚠️ {summary['errors']} file(s) could not be analysed and will stay where they are "
                   "(filter the plan by *errors* to see why).")
    return db


def moving_grid(storage: Storage, db: PlanDB, title: str, note: str, caption, key: str) -> None:
    """The images a plan moves, as a paged grid of thumbnails under a heading with their count; `caption(item)`
    is each one's text."""
    where = PlanFilter(folder=db.plan.output_prefix)
    found = db.count(where)
    st.subheader(f"{title} ({found:,})")
    st.caption(note)
    pages = max(1, -(-found // THUMBS_PER_PAGE))
    number = st.number_input(f"Page of {title.lower()} (of {pages:,})", 1, pages, key=key) if pages > 1 else 1
    show_grid(storage, [(i.source, caption(i)) for _, i in db.page(where, (int(number) - 1) * THUMBS_PER_PAGE,
                                                                    THUMBS_PER_PAGE)])


def _folder_label(folder: str, count: int) -> str:
    return f"stay where they are ({count:,})" if folder == "" else f"→ {folder} ({count:,})"


def plan_view(storage: Storage, db: PlanDB, page: str, editable: bool = True) -> None:
    """The plan a page at a time: filters (destination, category, errors, a part of the name), 50 rows a page
    that can be unticked or given another category (the edit goes to the stored plan), and thumbnails of the
    rows on view only."""
    plan = db.plan
    move_job = plan_move(storage, db)
    if editable and move_job is not None and (move_job.active or move_job.run_id or move_job.status == "done"):
        editable = False  # what was (or is being) moved is no longer to be edited: a new analysis makes a new plan
        st.caption(f"Job {move_job.id} {move_verb(move_job)} the files of this plan: it is shown as it was confirmed. "
                   "Analyse again (or **Start over**) for a new plan.")
    folders = db.folders()
    options = [ALL] + [f for f, _ in folders]  # ALL, not None: None is Streamlit's "nothing chosen"
    counts = dict(folders)
    c1, c2, c3, c4 = st.columns([3, 2, 1, 2])
    # the folder chosen is kept apart from the widget and set into it on every run: the labels carry counts, and
    # the browser holds the label, which goes stale (or matches nothing, "Choose an option") once a count changes
    ss, fkey = st.session_state, f"{page}_f_folder"
    if fkey in ss and ss.get(f"{fkey}_changed"):
        ss[f"{fkey}_value"] = ss[fkey]
    ss[f"{fkey}_changed"] = False
    chosen = ss.get(f"{fkey}_value")
    ss[fkey] = chosen if chosen in counts else ALL
    folder = c1.selectbox("Destination", options, key=fkey, on_change=ss.__setitem__, args=(f"{fkey}_changed", True),
                          format_func=lambda f: f"all ({sum(counts.values()):,})" if f == ALL else _folder_label(f, counts[f]))
    categories = jobs.plan_categories(plan) if plan.kind == "classify" else []
    category = c2.selectbox("Category", [""] + categories, key=f"{page}_f_category",
                            format_func=lambda c: c or "any category") if categories else ""
    errors = c3.checkbox("errors", key=f"{page}_f_errors", help="Only the files that could not be analysed")
    text = c4.text_input("Name contains", key=f"{page}_f_text")
    where = PlanFilter(folder=None if folder == ALL else folder, category=category or None, errors_only=errors,
                       text=text.strip())
    total = db.count(where)
    pages = max(1, -(-total // PAGE_ROWS))
    number = st.number_input(f"Page (of {pages:,}; {total:,} item(s))", 1, pages, key=f"{page}_page") if pages > 1 else 1
    rows = db.page(where, (int(number) - 1) * PAGE_ROWS, PAGE_ROWS)
    table = [{"#": n, "move": i.action != "keep", "file": i.source, "category": i.category or "",
              "confidence": i.confidence, "to": i.destination if i.action != "keep" else "",
              "reason": i.reason} for n, i in rows]
    column_config: dict[str, Any] = {  # the same columns whether the plan can be edited or not
        "#": st.column_config.NumberColumn("#", disabled=True),
        "move": st.column_config.CheckboxColumn("Move"),
        "file": st.column_config.TextColumn("File"),
        "category": st.column_config.TextColumn("Category"),
        "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="%.2f"),
        "to": st.column_config.TextColumn("To"),
        "reason": st.column_config.TextColumn("Reason", width="large", help="Why the image goes there, in full"),
    }
    if editable:
        st.caption("Untick an image to keep it where it is" + (", or pick another category for it" if categories else "")
                   + ": the plan is changed as you go.")
        if categories:
            column_config["category"] = st.column_config.SelectboxColumn("Category", options=categories, required=True)
        # the editor's key changes with every edit applied: its widget state (edits by row position) must not
        # outlive the rows it was made on, or after a rerun that re-filters the plan the same edit lands on
        # whichever row is now at that position (and again, and again)
        revision = st.session_state.get(f"{page}_edits", 0)
        edited = st.data_editor(table, key=f"{page}_editor_{number}_{hash(where)}_{revision}", hide_index=True,
                                disabled=["#", "file", "confidence", "to", "reason"] + ([] if categories else ["category"]),
                                column_config=column_config, width="stretch")
        _apply_edits(db, table, edited, f"{page}_edits")
    else:
        st.dataframe(table, hide_index=True, width="stretch", column_config=column_config)
    moving = [(i.source, f"{i.source.rsplit('/', 1)[-1]} · {i.category or ''} "
                         f"{'' if i.confidence is None else f'{i.confidence:.0%}'}") for _, i in rows if i.action != "keep"]
    if moving:
        shown = min(len(moving), THUMBS_PER_PAGE)
        with st.expander(f"Thumbnails of this page ({shown}" + (f" of the {len(moving)} moving)" if shown < len(moving)
                                                               else ")"), expanded=True):
            show_grid(storage, moving[:THUMBS_PER_PAGE])


def _apply_edits(db: PlanDB, before: list[dict], after: list[dict], revision_key: str) -> None:
    keep, unkeep, recategorise = [], [], {}
    for old, new in zip(before, after):
        n = old["#"]
        if old["move"] and not new["move"]:
            keep.append(n)
        elif not old["move"] and new["move"]:
            unkeep.append(n)
        if new["move"] and new.get("category") and new["category"] != old["category"]:
            recategorise[n] = new["category"]
    if unkeep:
        not_movable = set(unkeep) - db.movable(unkeep)
        if not_movable:
            st.caption(f"{len(not_movable)} item(s) stay where they are: they could not be analysed or did not match.")
        db.unkeep(unkeep)
    if keep:
        db.keep(keep)
    if recategorise:
        try:
            db.recategorise(recategorise)
        except ValueError as exc:
            st.error(str(exc))
    if keep or unkeep or recategorise:
        st.session_state[revision_key] = st.session_state.get(revision_key, 0) + 1  # a fresh editor
        st.rerun()


def plan_json(db: PlanDB, name: str) -> None:
    """The head of the plan as JSON, and the whole plan file (signed) to download."""
    summary = db.summary()
    with st.expander("Preview JSON (the first 20 items)"):
        st.json(db.head(20), expanded=1)
    if summary["total"] > MAX_DOWNLOAD_ITEMS:
        st.caption(f"This plan has {summary['total']:,} items: its file is `{db.path}` (apply it with "
                   f"`python -m segregator apply`, or export it with the CLI).")
        return

    def whole() -> bytes:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            db.export(path)
            return path.read_bytes()

    st.download_button("Download plan (JSON Lines)", whole, file_name=name, mime="application/x-ndjson",
                       key=f"download_{db.path.stem}")


def plan_move(storage: Storage, db: PlanDB) -> Job | None:
    """The latest move job of this plan (its confirm step's), or None."""
    return latest_job("apply", source_spec(storage, db.plan.source_prefix), lambda j: j.params.get("plan") == str(db.path))


def move_verb(job: Job) -> str:
    """What a move job did to its files, for a sentence "Run N <verb> the files": under way, done, or in part
    (cancelled, stopped, failed, interrupted); copies say so."""
    doing, done, part = (("is copying", "copied", "copied some of") if job.params.get("copy") else
                         ("is moving", "moved", "moved some of"))
    finished = job.status == "done" and not (job.result or {}).get("stopped")
    return doing if job.active else done if finished else part


def confirm_step(storage: Storage, db: PlanDB, page: str) -> None:
    """The confirm step, as a job: copy-or-move, a button naming the count; the plan is first checked against
    the storage (what is gone or changed since the analysis stops it, with the counts); then progress; then
    the summary. Shown again after any navigation or reload."""
    source = source_spec(storage, db.plan.source_prefix)
    job = plan_move(storage, db)
    if job is not None and job.status == "failed" and not job.run_id:
        st.error(f"Not started: {job.error}")  # refused (another run holds the folder, ...): the user may try again
    elif job is not None and job.status == "cancelled" and job.run_id:
        cancelled_run(storage, job, page)
        st.stop()
    elif job is not None and job.status != "cancelled":
        if not job_outcome(job, f"{page}_apply", "moving the files"):
            st.stop()
        stale = (job.result or {}).get("stale")
        if not stale:
            show_run_result(job, page)
            st.stop()
        st.warning(f"The folder changed since the analysis: {stale['gone']:,} file(s) gone and {stale['changed']:,} "
                   f"changed (e.g. {', '.join((stale['gone_keys'] + stale['changed_keys'])[:3])}). Analyse again, or "
                   "move the others anyway (the changed ones stay where they are).")
        if can_change() and st.button("Move the others anyway", key=f"{page}_force"):
            start_job("apply", "move the files", source, {"plan": str(db.path), "copy": job.params.get("copy"),
                                                          "check": False})
            st.rerun()
        st.stop()
    summary = db.summary()
    if not summary["to_move"]:
        st.info("Nothing to move: every image stays where it is.")
        return
    if not can_change():
        viewer_note(f"moving these {summary['to_move']:,} file(s)")
        return
    again = st.session_state.get(f"{page}_stale")  # what is on screen is not what the options now ask for
    if again == "":
        st.info("Nothing can be moved from these results while an option above cannot be used.")
        return
    if again:
        st.info("Nothing can be moved from these results: they were made with other options than those chosen "
                f"now (see above). Press **{again}** again, or set the options back.")
        return
    if write_blocked(storage):  # a read-only key: said before the button, not half-way through the move
        return
    copy = st.checkbox("Copy instead of move (keep the originals)", key=f"copy_{page}")
    verb = "Copy" if copy else "Move"
    if st.button(f"Confirm: {verb} {summary['to_move']:,} file(s)", type="primary", key=f"confirm_{page}"):
        start_job("apply", f"{verb.lower()} the files", source, {"plan": str(db.path), "copy": copy, "check": True},
                  match=lambda j: j.params.get("plan") == str(db.path))
        st.rerun()


def cancelled_run(storage: Storage, job: Job, page: str) -> None:
    """A move job cancelled part-way: its run is consistent (each file moved or not yet); resume it or undo it,
    here, as jobs of their own."""
    s = (job.result or {}).get("summary", {})
    run_id = job.run_id
    follow = latest_job(("resume", "undo"), source_spec(storage), lambda j: j.params.get("run_id") == run_id)
    if follow is not None:
        if job_outcome(follow, f"{page}_follow", "resuming the run" if follow.kind == "resume" else "undoing the run"):
            r = (follow.result or {}).get("summary", {})
            verb = "Finished run" if follow.kind == "resume" else "Undid run"
            st.success(f"{verb} {run_id}: moved {r.get('moved', 0):,}, failed {r.get('failed', 0):,}.")
        return
    st.warning(f"Job {job.id} (moving the files) was cancelled after {s.get('moved', 0) + s.get('copied', 0):,} "
               f"file(s): run {run_id} is consistent, each file either moved or still where it was. Resume it to move "
               "the rest, or undo it to put back what moved.")
    if not can_change():
        return
    left, right, _ = st.columns([1, 1, 3])
    if left.button(f"⏯ Resume run {run_id}", key=f"{page}_resume_run", type="primary"):
        start_job("resume", f"resume run {run_id}", source_spec(storage), {"run_id": run_id})
        st.rerun()
    if right.button(f"↩ Undo run {run_id}", key=f"{page}_undo_run"):
        start_job("undo", f"undo run {run_id}", source_spec(storage), {"run_id": run_id})
        st.rerun()


def show_run_result(job: Job, page: str) -> None:
    """A finished move job: what happened, the errors, the log event and the report."""
    drawn = st.session_state.get("runs_drawn")
    if drawn and job.finished and job.finished > drawn and st.session_state.get("runs_redrawn") != job.id:
        # The runs panel above was drawn while this run still went on (a small run ends within one script
        # run): draw the page again, once, so that it offers to undo this run, not the one before.
        st.session_state["runs_redrawn"] = job.id
        st.rerun()
    result = job.result or {}
    s = result.get("summary", {})
    copy = result.get("copy")
    done = s.get("copied" if copy else "moved", 0)
    msg = f"{'Copied' if copy else 'Moved'} {done:,}, unchanged {s.get('unchanged', 0):,}, failed {s.get('failed', 0):,}."
    if result.get("run_id") and not result.get("stopped"):
        msg += f" This is run {result['run_id']} (job {job.id}): undo it under ↩ Runs and trash."
        msg += f" Run {result.get('run_id')} stopped: {result['stopped']}"
    (st.warning if s.get("failed") or result.get("stopped") else st.success)(msg)
    if result.get("errors"):
        st.dataframe(result["errors"], hide_index=True)
    event = result.get("event", {})
    with st.expander("Session log event"):
        st.json(event)
    st.download_button("Download segregation report (JSON)", json.dumps({"job": job.id, **result}, indent=2),
                       file_name="segregation_report.json", mime="application/json", key=f"report_{job.id}")
    if result.get("run_id"):
        mapping_downloads(result["run_id"], f"{page}_{job.id}")
    if st.button("Start over", key=f"{page}_start_over"):
        st.session_state[f"{page}_after"] = job.id  # this page shows only newer analyses now
        st.rerun()


def mapping_downloads(run_id: int, key: str) -> None:
    """What moved where (old key -> new key, with public URLs when R2_PUBLIC_BASE_URL is set), read from the
    run's journal when clicked: for the database that points at the image keys."""
    import io

    from ..runs import write_export

    def export(fmt: str):
        def make() -> bytes:
            buf = io.StringIO()
            write_export(run_id, buf, fmt)
            return buf.getvalue().encode()
        return make

    left, right, _ = st.columns([1, 1, 3])
    left.download_button("Moves as CSV", export("csv"), file_name=f"run-{run_id}-moves.csv", mime="text/csv",
                         key=f"map_csv_{key}")
    right.download_button("Moves as JSON", export("json"), file_name=f"run-{run_id}-moves.json",
                          mime="application/json", key=f"map_json_{key}")


def start_run(call):
    """Run an engine call that changes storage right away (small, in-page steps); a refusal (another run holds
    the folder, a plan that does not fit) is shown as a message and None returned."""
    from ..locking import LockedError

    try:
        return call()
    except (LockedError, ValueError, OSError) as exc:
        st.error(f"Not started: {exc}")
    return None

