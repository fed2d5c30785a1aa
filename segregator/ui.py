"""Streamlit pieces shared by the pages: sidebar, progress, plan preview and the confirm step.

Only rendering and session state live here; every decision is an engine call (jobs, plan, session_log).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import streamlit as st
from dotenv import load_dotenv

from . import jobs
from .demo import DEMO_PREFIX, demo_folder, ensure_demo_folder, seed_demo_bucket, start_demo_bucket
from .placeholders import tesseract_available
from .locking import LockedError
from .plan import MovePlan, plan_text
from .progress import ProgressState, ProgressTracker
from .r2 import R2Config, list_buckets
from .session_log import SessionLog
from .settings import Settings
from .storage import Storage

load_dotenv()  # R2_* and SEGREGATOR_* from .env, as the CLI does
DEFAULTS = Settings()
THUMBS_PER_GROUP = 24
MAX_UPLOAD_MB = 20


def session_log() -> SessionLog:
    return SessionLog()


def settings(classifier: str = "heuristic", faces: bool = False, embedding: float = 0.0) -> Settings:
    """The engine settings with the sidebar's thresholds applied. Only the classify page asks for a
    classifier (see classifier_picker); the other jobs need no categories and skip the image model. Faces are
    found with the image model, or with any classifier when `faces` is set."""
    ss = st.session_state
    return DEFAULTS.with_overrides({
        "faces.detect": "on" if faces else "auto",
        "similarity.min_embedding_similarity": embedding,
        "similarity.max_hamming": ss.get("t_hamming", DEFAULTS.similarity.max_hamming),
        "similarity.min_pixel_similarity": ss.get("t_pixel", DEFAULTS.similarity.min_pixel_similarity),
        "placeholder.sensitivity": ss.get("t_sensitivity", DEFAULTS.placeholder.sensitivity),
        "placeholder.ocr": ss.get("t_ocr", True),
        "classifier.backend": classifier,
    })


def classifier_picker() -> str:
    """The classifier for the classify page: the image model, the colour/edge heuristic, or one the user
    taught; returns its backend name or a taught classifier's path."""
    from .learned import available

    ss = st.session_state
    taught = {p.stem: str(p) for p in jobs.taught_models()}
    options = (["learned"] if available() else []) + ["heuristic"] + [f"taught:{name}" for name in taught]
    if ss.get("classifier") not in options:
        ss["classifier"] = options[0]
    ss["classifier_input"] = ss["classifier"]

    def changed() -> None:
        _keep("classifier")()
        clear_results()  # results of another classifier do not apply

    labels = {"learned": "🧠 Image model (EfficientNet-Lite0, offline)", "heuristic": "🎨 Colour and edge features"}
    with st.sidebar:  # drawn by the classify page only: the other jobs use no classifier
        st.selectbox("Classifier", options, key="classifier_input", on_change=changed,
                     format_func=lambda o: labels.get(o, f"🎓 Taught: {o[len('taught:'):]}"),
                     help="The image model sorts into the nine categories; a taught classifier into your own.")
    choice = ss["classifier"]
    return taught[choice[len("taught:"):]] if choice.startswith("taught:") else choice


def embedding_option() -> float:
    """By Reference: the third stage (the image model's content similarity) and its threshold; 0 when off."""
    from .learned import available

    if not available():
        return 0.0
    left, right = st.columns([2, 1])
    on = left.checkbox("🧠 Also match by content (image model): finds re-framed and cropped copies",
                       key="reference_embeddings", on_change=clear_results)
    threshold = right.slider("Content similarity", 0.5, 0.99, 0.80, 0.01, key="reference_embedding_threshold",
                             disabled=not on, help="Cosine similarity of the image model's embeddings")
    return float(threshold) if on else 0.0


def output_folder_input(label: str, default: str, key: str) -> str:
    """A text box for an output folder, checked as it is typed: a name that would leave the source (or use
    the tool's own folders) is refused here, before anything is analysed or moved."""
    value = st.text_input(label, value=default, key=key)
    try:
        return ("/" if value.strip().startswith("/") else "") + jobs.check_folder_name(value or default)
    except ValueError as exc:
        st.error(f"Output folder: {exc}")
        st.stop()


def faces_folder_option() -> str | None:
    """'Images with faces to their own folder' on the classify page: the folder's name, or None."""
    from .faces import available

    if not available():
        return None
    left, right = st.columns([2, 1])
    on = left.checkbox("🙂 Images with faces to their own folder", key="faces_to_folder", on_change=clear_results,
                       help="Face detection runs on every image; those with a face go to this folder.")
    name = right.text_input("Faces folder", value="faces", key="faces_folder", disabled=not on,
                            label_visibility="collapsed")
    if not on:
        return None
    try:
        return jobs.check_folder_name(name or "faces")
    except ValueError as exc:
        st.error(f"Faces folder: {exc}")
        st.stop()


def teach_panel(storage: Storage, prefix: str) -> None:
    """Teach by example: a folder with one subfolder per category (its name is the category) becomes a
    classifier, saved and offered in the Classifier list."""
    from .learned import available

    with st.expander("🎓 Teach your own categories"):
        if not available():
            st.info("Teaching needs the image model (onnxruntime and segregator/models/efficientnet_lite0.onnx).")
            return
        st.caption("Point at a folder with one subfolder per category, e.g. `Kitchen/`, `Bathroom/`, `Floor plan/`, "
                   "each holding example images. The folder names become the categories.")
        folder = st.text_input("Examples folder (in the current source)", value=prefix, key="teach_folder")
        name = st.text_input("Name for this classifier", value="my_categories", key="teach_name")
        if st.button("Teach", key="teach_go"):
            try:
                model, counts, errors = jobs.teach(storage, folder, progress=progress_bar("Embedding examples"))
            except (ValueError, OSError) as exc:
                st.error(str(exc))
                return
            path = jobs.save_taught_model(model, jobs.taught_model_path(name))
            st.session_state["classifier"] = f"taught:{path.stem}"
            clear_results()
            st.session_state["teach_message"] = (
                f"Learned {len(counts)} categories from {sum(counts.values())} images "
                f"({', '.join(f'{c}: {n}' for c, n in counts.items())}). Saved as **{path.stem}** and selected.",
                f"{len(errors)} example(s) could not be read: " + ", ".join(e["key"] for e in errors[:5]) if errors else "")
            st.rerun()  # the Classifier list above now offers (and shows) the new classifier
        done = st.session_state.pop("teach_message", None)
        if done:
            st.success(done[0])
            if done[1]:
                st.warning(done[1])


def _reset_thresholds() -> None:
    for key, value in _THRESHOLD_DEFAULTS.items():
        st.session_state[key] = value


_THRESHOLD_DEFAULTS = {"t_hamming": DEFAULTS.similarity.max_hamming, "t_pixel": DEFAULTS.similarity.min_pixel_similarity,
                       "t_sensitivity": DEFAULTS.placeholder.sensitivity, "t_ocr": True}


def _keep(name: str):
    """Widget values are dropped on a page switch; keep each in a session key of its own."""
    def copy() -> None:
        st.session_state[name] = st.session_state[f"{name}_input"]
    return copy


@st.cache_resource(show_spinner="Starting the local demo bucket…")
def _demo_bucket():
    import atexit

    server, config = start_demo_bucket()
    atexit.register(server.stop)
    return config


def r2_config() -> R2Config | None:
    """R2 from the environment / .env, else the local demo bucket; None (with a message) when neither works."""
    try:
        config = R2Config.from_env()
    except ValueError as exc:
        st.sidebar.error(f"R2 is misconfigured: {exc}")
        return None
    if config is not None:
        return config
    try:
        return _demo_bucket()
    except (OSError, ValueError) as exc:
        st.sidebar.error(f"R2 is not configured and the demo bucket could not start: {exc}")
        return None


@st.cache_data(ttl=300, show_spinner=False)
def _buckets(_config: R2Config, endpoint: str, refresh: int) -> tuple[list[str], str]:
    return list_buckets(_config)


def _r2_sidebar() -> tuple[Storage, str] | None:
    ss = st.session_state
    config = r2_config()
    if config is None:
        return None
    st.caption(("🧪 " if config.demo else "☁️ ") + config.describe())
    if config.demo:
        st.caption("Local demo bucket seeded with the sample images: set R2_* in .env for your own account.")
    try:
        names, note = _buckets(config, config.endpoint, ss.get("bucket_refresh", 0))
    except OSError as exc:
        st.error(f"Cannot list buckets: {exc}")
        return None
    if note:
        st.info(note)
    if not names:
        st.warning("No buckets found for this key.")
        return None
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    if ss.get("bucket") and ss["bucket"] not in names:
        names = names + [ss["bucket"]]  # chosen earlier (or made since the list was read): checked below
    if not ss.get("bucket"):
        ss["bucket"] = config.bucket if config.bucket in names else names[0]
    ss["bucket_input"] = ss["bucket"]
    left.selectbox("Bucket", names, key="bucket_input", on_change=_keep("bucket"))
    if right.button("↻", help="Refresh the bucket list"):
        ss["bucket_refresh"] = ss.get("bucket_refresh", 0) + 1
        st.rerun()
    ss.setdefault("source_prefix", DEMO_PREFIX if config.demo else "")
    ss["source_prefix_input"] = ss["source_prefix"]
    st.text_input("Source prefix", key="source_prefix_input", on_change=_keep("source_prefix"),
                  help="A folder in the bucket, e.g. images/masterImgs/ (empty: the whole bucket)")
    try:
        storage, prefix = jobs.open_source(f"r2://{ss['bucket']}/{ss['source_prefix']}", config)
    except (OSError, ValueError) as exc:
        st.error(f"Cannot use this bucket: {exc}")
        return None
    if config.demo and st.button("Restore demo bucket", help="Empty the demo bucket and put the samples back"):
        seed_demo_bucket(storage, reset=True)
        clear_results()
        st.rerun()
    return storage, prefix


def _local_sidebar() -> tuple[Storage, str] | None:
    ss = st.session_state
    if "source_folder" not in ss:
        ss["source_folder"] = os.environ.get("SEGREGATOR_SOURCE") or str(ensure_demo_folder())
    ss["source_folder_input"] = ss["source_folder"]
    st.text_input("Source folder", key="source_folder_input", on_change=_keep("source_folder"),
                  help="A folder on this machine. The default is a copy of the sample images.")
    if Path(ss["source_folder"]).resolve() == demo_folder().resolve():
        st.caption("Demo folder: a working copy of the repo's sample images.")
        if st.button("Restore demo images", help="Put the sample images back as they were"):
            ensure_demo_folder(reset=True)
            clear_results()
            st.rerun()
    try:
        return jobs.open_source(ss["source_folder"])
    except (OSError, ValueError) as exc:
        st.error(f"Cannot use this folder: {exc}")
        return None


def sidebar() -> tuple[Storage, str] | None:
    """Draw the sidebar on every page; returns the chosen storage and prefix, or None (the reason is shown)."""
    ss = st.session_state
    ss.setdefault("storage_mode", "local")
    ss["storage_mode_input"] = ss["storage_mode"]
    for key, value in _THRESHOLD_DEFAULTS.items():
        ss.setdefault(key, value)
    if os.environ.get("SEGREGATOR_DEMO_BUCKET") == "1" and _configured_r2() is None:
        _demo_bucket()  # `make run`: the demo bucket is up from the first page, ready for the R2 modes
    with st.sidebar:
        st.radio("Storage", ["local", "r2"], key="storage_mode_input", on_change=_keep("storage_mode"), horizontal=True,
                 format_func=lambda m: {"local": "📁 Local folder", "r2": "☁️ R2 bucket"}[m])
        chosen = _r2_sidebar() if ss["storage_mode"] == "r2" else _local_sidebar()
        st.divider()
        st.markdown("**Thresholds**")
        # Widgets keep their state per page; the values live in keys of their own and are copied in and out.
        for key in ("t_hamming", "t_pixel", "t_sensitivity", "t_ocr"):
            ss[f"{key}_input"] = ss[key]
        st.slider("Max pHash distance", 0, 32, key="t_hamming_input", on_change=_keep("t_hamming"),
                  help="Distance accepted on its own as a match")
        st.slider("Pixel similarity to confirm", 0.5, 1.0, key="t_pixel_input", step=0.01, on_change=_keep("t_pixel"))
        st.slider("Placeholder sensitivity", 0.0, 1.0, key="t_sensitivity_input", step=0.05,
                  on_change=_keep("t_sensitivity"))
        st.checkbox("OCR for placeholders", key="t_ocr_input", on_change=_keep("t_ocr"), disabled=not tesseract_available(),
                    help=None if tesseract_available() else "Tesseract is not installed: OCR is off")
        st.button("Reset thresholds", on_click=_reset_thresholds)
        st.divider()
        # A callable: read when clicked, so the file includes events of the run that just happened.
        st.download_button("Download session log", session_log().export, file_name="segregator_session_log.json",
                           mime="application/json")
    signature = (ss["storage_mode"], chosen[0].description, chosen[1]) if chosen else None
    if ss.get("source_signature") != signature:  # another folder or bucket: earlier results do not apply
        clear_results()
        ss["source_signature"] = signature
    return chosen


def mode_label(storage: Storage, local: str, r2: str) -> str:
    return r2 if storage.kind == "r2" else local


def page(title: str, icon: str, caption: str | tuple[str, str]) -> tuple[Storage, str]:
    """The top of every page: config, title, sidebar, and a caption (or (local, R2) captions). Stops the
    page when no source can be used (the sidebar says why)."""
    st.set_page_config(page_title=title, page_icon=icon, layout="wide")
    st.title(f"{icon} {title}")
    source = sidebar()
    if source is None:
        st.stop()
    storage, prefix = source
    st.caption(mode_label(storage, *caption) if isinstance(caption, tuple) else caption)
    return storage, prefix


def clear_results() -> None:
    for key in [k for k in st.session_state if k.startswith("result_")]:
        del st.session_state[key]


def progress_bar(label: str) -> ProgressTracker:
    """An st.progress bar showing count, rate and ETA, as an engine progress callback."""
    bar = st.progress(0.0, text=f"{label}…")

    def update(state: ProgressState) -> None:
        bar.progress(state.fraction, text=state.text(label))

    return ProgressTracker(update)


def analyse(storage: Storage, prefix: str, page: str, placeholders: bool = True, examples=(), recursive: bool = True,
            classifier: str = "heuristic", faces: bool = False, embedding: float = 0.0):
    """Analyse the source with a progress bar; results are kept in the session for this page."""
    tracker = progress_bar("Analysing")
    try:
        results = jobs.analyse_source(storage, prefix, settings(classifier, faces, embedding), recursive=recursive,
                                      examples=examples,
                                      progress=tracker, placeholders=placeholders)
    except (OSError, ValueError) as exc:
        st.error(f"Cannot analyse the source: {exc}")
        st.stop()
    st.session_state[f"result_{page}_analysis"] = results
    return results


def analysis_step(storage: Storage, prefix: str, page: str, button: str, what: str, **options):
    """The analyse button, then the kept results; stops the page before (with a hint) and when there is
    nothing, and shows only the summary after a confirmed run. `options` go to analyse()."""
    if st.button(button, type="primary"):
        clear_results()
        analyse(storage, prefix, page, **options)
    results = st.session_state.get(f"result_{page}_analysis")
    if results is None:
        st.info(f"Press **{button}** to {what} {storage.description}"
                f"{f' under `{prefix}`' if prefix else ''}. Nothing moves until you confirm.")
        st.stop()
    if not results:
        st.warning("No images found here.")
        st.stop()
    show_report_if_done(page)
    show_errors(results)
    return results


def edit_plan_table(plan: MovePlan, key: str) -> MovePlan:
    """The plan as a table where an image can be unticked or given another category; returns the edited plan."""
    edited = st.data_editor(
        as_rows(plan), key=key, hide_index=True, disabled=["file", "confidence", "reason"],
        column_config={
            "move": st.column_config.CheckboxColumn("Move"),
            "category": st.column_config.SelectboxColumn("Category", options=jobs.plan_categories(plan)),
            "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="%.2f"),
        },
    )
    keep = [row["file"] for row in edited if not row["move"]]
    changed = {row["file"]: row["category"] for row, item in zip(edited, plan.items)
               if item.action != "keep" and row["category"] and row["category"] != item.category}
    return jobs.edit_plan(plan, keep=keep, recategorise=changed)


def similarity_caption(m) -> str:
    s = m.similarity
    text = f"{m.result.key} · distance {s.hamming} · pixels {s.pixel_similarity:.2f}"
    return text + (f" · content {s.embedding_similarity:.2f}" if s.embedding_similarity is not None else "")


def faces_toggle() -> bool:
    """The gallery's 'mark faces' switch (off, and disabled, without OpenCV)."""
    from .faces import available

    return st.toggle("🙂 Mark faces", key="gallery_faces", disabled=not available(),
                     help=None if available() else "Face detection needs opencv-python-headless")


@st.cache_data(ttl=600, max_entries=5000, show_spinner=False)
def _faces(_storage: Storage, where: str, key: str) -> int:
    return len(jobs.faces_in(_storage, key))


def face_count(storage: Storage, key: str) -> int:
    """Faces found in one object (0 when it cannot be read), cached for ten minutes."""
    return _faces(storage, storage.description, key)


def show_errors(results) -> None:
    bad = [r for r in results if r.error]
    if bad:
        with st.expander(f"⚠️ {len(bad)} file(s) could not be analysed and will stay where they are"):
            st.dataframe([{"file": r.key, "error": r.error} for r in bad], hide_index=True)


def show_image(storage: Storage, key: str, caption: str, width: int | str = 160) -> None:
    """A thumbnail of one object, or just its caption when it cannot be decoded."""
    data = preview_url_or_bytes(storage, key)
    if data:
        st.image(data, caption=caption, width=width)
    else:
        st.caption(f"{caption} (no preview)")


@st.cache_data(ttl=300, max_entries=5000, show_spinner=False)
def _preview(_storage: Storage, where: str, key: str):
    if hasattr(_storage, "presigned_url"):
        return _storage.presigned_url(key)  # cached for 5 minutes of its 15, so the browser can cache it too
    return jobs.thumbnail_jpeg(_storage, key)


def preview_url_or_bytes(storage: Storage, key: str):
    """What st.image shows for a key: a short-lived presigned URL on R2 (the browser fetches it directly),
    a small JPEG for local files; None when there is nothing to show."""
    try:
        return _preview(storage, storage.description, key)
    except (OSError, ValueError):
        return None


def use_folder(storage: Storage, prefix: str) -> None:
    """Make a scanned folder the source of every page (callback of the scanner's buttons)."""
    if storage.kind == "r2":
        st.session_state["source_prefix"] = prefix
    else:
        st.session_state["source_folder"] = str(Path(storage.root) / prefix) if prefix else str(storage.root)
    clear_results()


def show_thumbnails(storage: Storage, items, caption) -> None:
    cols = st.columns(6)
    for i, item in enumerate(items[:THUMBS_PER_GROUP]):
        with cols[i % 6]:
            show_image(storage, item.source, caption(item), "stretch")
    if len(items) > THUMBS_PER_GROUP:
        st.caption(f"… and {len(items) - THUMBS_PER_GROUP} more")


def show_plan_groups(storage: Storage, plan: MovePlan) -> None:
    """The plan grouped by destination folder, with thumbnails."""
    for folder, items in plan.by_destination().items():
        moving = [i for i in items if i.action != "keep" and i.source != i.destination]
        if not folder:
            title = f"Stay where they are ({len(items)})"
        elif moving:
            title = f"→ {folder} ({len(moving)})"
        else:
            continue
        with st.expander(title, expanded=bool(folder)):
            show_thumbnails(storage, moving if folder else items,
                            lambda i: f"{i.source} · {i.category or ''} {'' if i.confidence is None else f'{i.confidence:.0%}'}")


def show_json_preview(plan: MovePlan, name: str) -> None:
    with st.expander("Preview JSON"):
        st.json(plan.to_dict(), expanded=1)
    # the plan file, signed: `python -m segregator apply` on this machine takes it with --yes
    st.download_button("Download plan (JSON Lines)", plan_text(plan), file_name=name.replace(".json", ".jsonl"),
                       mime="application/x-ndjson")


def show_report_if_done(page: str) -> None:
    """After a confirmed run, the page shows only its summary (the plan it came from is spent)."""
    done = st.session_state.get(f"result_{page}_report")
    if done:
        show_report(*done)
        st.stop()


def confirm_and_run(storage: Storage, plan: MovePlan, page: str) -> None:
    """The confirm step: copy-or-move choice, a button naming the count, then progress and the summary."""
    moving = [i for i in plan.moves if i.source != i.destination]
    if not moving:
        st.info("Nothing to move: every image stays where it is.")
        return
    copy = st.checkbox("Copy instead of move (keep the originals)", key=f"copy_{page}")
    verb = "Copy" if copy else "Move"
    if st.button(f"Confirm: {verb} {len(moving)} file(s)", type="primary", key=f"confirm_{page}"):
        tracker = progress_bar("Moving" if not copy else "Copying")
        outcome = start_run(lambda: jobs.run_plan(plan, storage, copy=copy, log=session_log(), progress=tracker))
        if outcome is not None:
            st.session_state[f"result_{page}_report"] = outcome
            st.rerun()


def start_run(call):
    """Run an engine call that changes storage; a refusal (another run holds the folder, a plan that does not
    fit) is shown as a message, and None returned: nothing was started, and nothing is left to resume."""
    try:
        return call()
    except LockedError as exc:
        st.error(f"Not started: {exc}")
    except (ValueError, OSError) as exc:
        st.error(f"Not started: {exc}")
    return None


def show_report(report, event: dict[str, Any]) -> None:
    s = report.summary()
    done = s["copied"] if report.copy_mode else s["moved"]
    msg = f"{'Copied' if report.copy_mode else 'Moved'} {done}, unchanged {s['unchanged']}, failed {s['failed']}."
    (st.warning if s["failed"] else st.success)(msg)
    if report.errors:
        st.dataframe(report.errors, hide_index=True)
    with st.expander("Session log event"):
        st.json(event)
    st.download_button("Download segregation report (JSON)", json.dumps({"event": event, **report.to_dict()}, indent=2),
                       file_name="segregation_report.json", mime="application/json", key="report_download")
    if st.button("Start over", key="start_over"):
        clear_results()
        st.rerun()


def _configured_r2() -> R2Config | None:
    try:
        return R2Config.from_env()
    except ValueError:
        return None


def _r2_for(storage: Storage) -> R2Config | None:
    """The R2 configuration a run on this storage reopens its bucket with (the account's, or the demo's)."""
    return getattr(storage, "config", None)


@st.dialog("Undo a run?")
def _confirm_undo(storage: Storage, run_id: int) -> None:
    try:
        action, run = jobs.undo_target(run_id)
        if action == "finish":
            st.write(f"Run {run.id} (an undo of run {run.undo_of}) was interrupted: it is finished first.")
            if st.button("Finish it", type="primary"):
                outcome = start_run(lambda: jobs.resume(run.id, log=session_log(), r2_config=_r2_for(storage)))
                if outcome is not None:
                    st.session_state["result_runs"] = outcome
                    st.rerun()
            return
        plan, storage, lost, lost_count = jobs.undo_plan(run, _r2_for(storage))
    except (OSError, ValueError) as exc:
        st.error(str(exc))
        return
    count = plan.summary_count()
    st.write(f"Run {run.id} on {storage.description}: **{count} object(s)** go back where they were "
             "(copies go to the trash). Nothing is overwritten.")
    if lost_count:
        st.warning(f"{lost_count} object(s) cannot be undone (changed or gone since the run): " + ", ".join(lost[:5])
                   + (" …" if lost_count > 5 else ""))
    head = [f"{i.source} → {i.destination}" for i, _ in zip(plan.items(), range(20))]
    st.code("\n".join(head) or "(nothing to put back)", language=None)
    if st.button(f"Undo {count} move(s)", type="primary", disabled=not count):
        outcome = start_run(lambda: jobs.run_plan(plan, storage, log=session_log(), undo_of=run.id))
        if outcome is not None:
            st.session_state["result_runs"] = outcome
            st.rerun()
    if st.button("Cancel"):
        st.rerun()


@st.dialog("Empty the trash?")
def _confirm_empty_trash(storage: Storage, count: int) -> None:
    st.write(f"**{count} object(s)** under `_trash/` in {storage.description} will be deleted for good. "
             "This cannot be undone.")
    sure = st.checkbox("I understand that these files cannot be recovered")
    typed = st.text_input("Type EMPTY to confirm")
    if st.button(f"Delete {count} object(s) for good", type="primary", disabled=not (sure and typed == "EMPTY")):
        outcome = start_run(lambda: jobs.empty_trash(storage, log=session_log()))
        if outcome is not None:
            st.session_state["result_trash_emptied"] = outcome
            st.rerun()


def runs_panel(storage: Storage) -> None:
    """Resume an interrupted run, undo the last one, empty the trash: for the storage in view."""
    from .journal import RunStore
    from .locking import blocking
    from .runs import latest_unfinished

    st.subheader("↩ Runs and trash")
    done = st.session_state.pop("result_runs", None)
    if done:
        report, event = done
        s = report.summary()
        (st.warning if s["failed"] or report.stopped else st.success)(
            f"Run {event['extra']['run_id']}: moved {s['moved']}, unchanged {s['unchanged']}, failed {s['failed']}."
            + (f" {report.stopped}" if report.stopped else ""))
    emptied = st.session_state.pop("result_trash_emptied", None)
    if emptied:
        st.success(f"Deleted {emptied['extra']['deleted']} object(s) from the trash for good.")
    area = storage.lock_area()
    unfinished = latest_unfinished(area)
    if unfinished:
        counts = RunStore().counts(unfinished.id)
        total = sum(counts.values())
        busy = blocking(storage, unfinished.scope)
        if busy:
            st.info(f"Run {unfinished.id} is in progress: {busy[0].describe()}.")
        else:
            st.warning(f"Run {unfinished.id} stopped before it finished: {total - counts.get('pending', 0)} of {total} "
                       f"item(s) settled" + (f" ({unfinished.note})" if unfinished.note else "") + ".")
            if st.button("⏯ Resume it", type="primary"):
                outcome = start_run(lambda: jobs.resume(unfinished.id, log=session_log(), progress=progress_bar("Resuming"),
                                                        r2_config=_r2_for(storage)))
                if outcome is not None:
                    st.session_state["result_runs"] = outcome
                    st.rerun()
    try:
        _action, target = jobs.undo_target(area=area)
    except ValueError:
        target = None
    if target is not None and st.button(f"↩ Undo run {target.id}" if target.kind == "run" else
                                        f"↩ Finish the interrupted undo (run {target.id})"):
        _confirm_undo(storage, target.id)
    try:
        trash = jobs.trash_keys(storage)
    except OSError as exc:
        st.error(f"Cannot list the trash: {exc}")
        return
    st.caption(f"Trash: {len(trash)} object(s) under `_trash/`.")
    if trash and st.button(f"🗑️ Empty trash ({len(trash)})"):
        _confirm_empty_trash(storage, len(trash))


def as_rows(plan: MovePlan) -> list[dict[str, Any]]:
    return [{"move": i.action != "keep", "file": i.source, "category": i.category or "",
             "confidence": i.confidence if i.confidence is not None else 0.0, "reason": i.reason}
            for i in plan.items]
