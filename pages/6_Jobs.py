"""📋 Jobs: every job of the app and of the command line, with its state, progress and actions."""

import datetime

import streamlit as st

from segregator import ui

st.set_page_config(page_title="Jobs", page_icon="📋", layout="wide")
ui.gate()
ui.keep_source_in_url()  # a reload here keeps the source the other pages work on
st.title("📋 Jobs")
with st.sidebar:
    ui.account_sidebar()
    ui.nav()
st.caption("Analyses, moves, undos and the rest run as jobs on the server (or in a command line): they go on "
           "when you switch pages, reload or close the tab. A job stopped by a server restart shows as "
           "*interrupted*: resume it here.")


def when(t) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else ""


@st.fragment(run_every=2.0)
def table() -> None:
    jobs = ui.store().list(limit=int(st.session_state.get("jobs_limit", 100)))
    if not jobs:
        st.info("No jobs yet: start one on any page (Analyse, Confirm, …) or from the command line.")
        return
    st.dataframe([{"job": j.id, "state": j.status, "what": j.label, "on": j.source, "progress": j.progress_text(),
                   "run": "" if j.run_id is None else str(j.run_id),  # no run: an empty cell, not "None"
                   "by": j.user or "", "created": when(j.created), "finished": when(j.finished),
                   "error": j.error or ""}
                  for j in jobs], hide_index=True, width="stretch")


table()
st.number_input("Jobs shown", 10, 1000, 100, step=50, key="jobs_limit")

st.subheader("Act on a job")


@st.fragment(run_every=2.0)
def actions() -> None:
    """Redrawn with the table: a job that ends meanwhile leaves the list, its buttons with it."""
    choices = {j.id: j for j in ui.store().list(limit=200)
               if j.status in ("queued", "running", "paused", "interrupted", "failed")}
    if not choices:
        st.caption("No job is running, paused or interrupted.")
        return
    # the labels carry no state (it changes as the job goes on, and the browser holds the label): it is below
    chosen = st.selectbox("Job", list(choices), key="jobs_act",
                          format_func=lambda i: f"{i} · {choices[i].label} · {choices[i].source}")
    job = choices.get(chosen) or next(iter(choices.values()))
    st.caption(f"Job {job.id} is **{job.status}**: {job.progress_text()}")
    if not ui.can_act_on(job):
        st.caption("👁️ This job changes storage or what every user shares: pausing, cancelling or resuming it needs "
                   "an editor.")
        return
    cols = st.columns(4)
    try:
        if job.status == "running" and cols[0].button("⏸ Pause"):
            ui.runner().request(job.id, "pause", ui.user())
            st.rerun()
        if job.status == "paused" and cols[0].button("▶ Go on"):
            ui.runner().request(job.id, "resume", ui.user())
            st.rerun()
        if job.status in ("queued", "running", "paused") and cols[1].button("✖ Cancel"):
            ui.runner().request(job.id, "cancel", ui.user())
            st.rerun()
        if job.status in ("interrupted", "failed") and cols[2].button("⏯ Resume", type="primary"):
            ui.runner().resume(job.id, user=ui.user())
            st.rerun()
    except (ValueError, PermissionError) as exc:  # PermissionError: the engine refuses what the role does not allow
        st.error(str(exc))


actions()
