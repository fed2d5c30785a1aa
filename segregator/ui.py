"""Streamlit pieces shared by the pages: sidebar, progress, plan preview and the confirm step.

Only rendering and session state live here; every decision is an engine call (jobs, plan, session_log).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import streamlit as st

from . import jobs
from .demo import demo_folder, ensure_demo_folder
from .placeholders import tesseract_available
from .plan import MovePlan
from .progress import ProgressState, ProgressTracker
from .session_log import SessionLog
from .settings import CATEGORIES, NO_IMAGE, Settings
from .storage import Storage

DEFAULTS = Settings()
THUMBS_PER_GROUP = 24
MAX_UPLOAD_MB = 20


def session_log() -> SessionLog:
    return SessionLog()


def settings() -> Settings:
    """The engine settings with the sidebar's thresholds applied."""
    ss = st.session_state
    return DEFAULTS.with_overrides({
        "similarity.max_hamming": ss.get("t_hamming", DEFAULTS.similarity.max_hamming),
        "similarity.min_pixel_similarity": ss.get("t_pixel", DEFAULTS.similarity.min_pixel_similarity),
        "placeholder.sensitivity": ss.get("t_sensitivity", DEFAULTS.placeholder.sensitivity),
        "placeholder.ocr": ss.get("t_ocr", True),
    })


def _reset_thresholds() -> None:
    st.session_state["t_hamming"] = DEFAULTS.similarity.max_hamming
    st.session_state["t_pixel"] = DEFAULTS.similarity.min_pixel_similarity
    st.session_state["t_sensitivity"] = DEFAULTS.placeholder.sensitivity
    st.session_state["t_ocr"] = True


def _keep_source() -> None:
    # Widget state is dropped on a page switch; keep the folder in a key of its own.
    st.session_state["source_folder"] = st.session_state["source_folder_input"]


def sidebar() -> str:
    """Draw the sidebar on every page; returns the chosen local folder."""
    ss = st.session_state
    if "source_folder" not in ss:
        configured = os.environ.get("SEGREGATOR_SOURCE")
        ss["source_folder"] = configured or str(ensure_demo_folder())
    ss["source_folder_input"] = ss["source_folder"]
    for key, value in (("t_hamming", DEFAULTS.similarity.max_hamming), ("t_pixel", DEFAULTS.similarity.min_pixel_similarity),
                       ("t_sensitivity", DEFAULTS.placeholder.sensitivity), ("t_ocr", True)):
        ss.setdefault(key, value)
    with st.sidebar:
        st.markdown("**Storage:** local folder")
        st.text_input("Source folder", key="source_folder_input", on_change=_keep_source,
                      help="A folder on this machine. The default is a copy of the sample images.")
        if Path(ss["source_folder"]).resolve() == demo_folder().resolve():
            st.caption("Demo folder: a working copy of the repo's sample images.")
            if st.button("Restore demo images", help="Put the sample images back as they were"):
                ensure_demo_folder(reset=True)
                clear_results()
                st.rerun()
        st.divider()
        st.markdown("**Thresholds**")
        st.slider("Max pHash distance", 0, 32, key="t_hamming", help="Distance accepted on its own as a match")
        st.slider("Pixel similarity to confirm", 0.5, 1.0, key="t_pixel", step=0.01)
        st.slider("Placeholder sensitivity", 0.0, 1.0, key="t_sensitivity", step=0.05)
        st.checkbox("OCR for placeholders", key="t_ocr", disabled=not tesseract_available(),
                    help=None if tesseract_available() else "Tesseract is not installed: OCR is off")
        st.button("Reset thresholds", on_click=_reset_thresholds)
        st.divider()
        # A callable: read when clicked, so the file includes events of the run that just happened.
        st.download_button("Download session log", session_log().export, file_name="segregator_session_log.json",
                           mime="application/json")
    return ss["source_folder"]


def open_folder(folder: str) -> Storage | None:
    """The storage for a folder, or None after showing why it cannot be used."""
    try:
        storage, _ = jobs.open_source(folder)
    except (OSError, ValueError) as exc:
        st.error(f"Cannot use this folder: {exc}")
        return None
    return storage


def clear_results() -> None:
    for key in [k for k in st.session_state if k.startswith("result_")]:
        del st.session_state[key]


def progress_bar(label: str) -> ProgressTracker:
    """An st.progress bar showing count, rate and ETA, as an engine progress callback."""
    bar = st.progress(0.0, text=f"{label}…")

    def update(state: ProgressState) -> None:
        bar.progress(state.fraction, text=state.text(label))

    return ProgressTracker(update)


def analyse(storage: Storage, page: str, placeholders: bool = True, examples=()):
    """Analyse the folder with a progress bar; results are kept in the session for this page."""
    tracker = progress_bar("Analysing")
    results = jobs.analyse_source(storage, "", settings(), examples=examples, progress=tracker,
                                  placeholders=placeholders)
    st.session_state[f"result_{page}_analysis"] = results
    return results


def show_errors(results) -> None:
    bad = [r for r in results if r.error]
    if bad:
        with st.expander(f"⚠️ {len(bad)} file(s) could not be analysed and will stay where they are"):
            st.dataframe([{"file": r.key, "error": r.error} for r in bad], hide_index=True)


def show_image(storage: Storage, key: str, caption: str, width: int | str = 160) -> None:
    """A thumbnail of one object, or just its caption when it cannot be decoded."""
    data = jobs.thumbnail_jpeg(storage, key)
    if data:
        st.image(data, caption=caption, width=width)
    else:
        st.caption(f"{caption} (no preview)")


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
    text = plan.to_json()
    with st.expander("Preview JSON"):
        st.json(json.loads(text), expanded=1)
    st.download_button("Download plan (JSON)", text, file_name=name, mime="application/json")


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
        report, event = jobs.run_plan(plan, storage, copy=copy, log=session_log(), progress=tracker)
        st.session_state[f"result_{page}_report"] = (report, event)
        st.rerun()


def show_report(report, event: dict[str, Any]) -> None:
    s = report.summary()
    done = s["copied"] if report.copy_mode else s["moved"]
    msg = f"{'Copied' if report.copy_mode else 'Moved'} {done}, unchanged {s['unchanged']}, failed {s['failed']}."
    (st.warning if s["failed"] else st.success)(msg)
    if report.errors:
        st.dataframe(report.errors, hide_index=True)
    with st.expander("Session log event"):
        st.json(event)
    if st.button("Start over", key="start_over"):
        clear_results()
        st.rerun()


def category_options() -> list[str]:
    return list(CATEGORIES) + [NO_IMAGE]


def as_rows(plan: MovePlan) -> list[dict[str, Any]]:
    return [{"move": i.action != "keep", "file": i.source, "category": i.category or "",
             "confidence": i.confidence if i.confidence is not None else 0.0, "reason": i.reason}
            for i in plan.items]
