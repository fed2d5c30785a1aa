"""The duplicates page's pieces: its options, and the groups of copies side by side, a page of groups at a
time, each with its keeper marked and changed with one click (the edit goes to the stored plan)."""

from __future__ import annotations

import datetime
import posixpath

import streamlit as st

from .. import jobs
from ..duplicates import DEFAULT_KEEP
from ..plandb import PlanDB
from ..storage import Storage
from .previews import preview_url_or_bytes

GROUPS_PER_PAGE = 8
SHOWN_PER_GROUP = 12
TIERS = {"exact": "Exact (identical bytes)", "near": "Near (+ resized, recompressed, edited, mirrored)",
         "similar": "Similar (+ re-framed and cropped, by the image model)"}
RULES = {"resolution": "largest resolution", "size": "largest file", "path": "shortest path", "oldest": "oldest",
         "newest": "newest"}


def human_size(n: int | None) -> str:
    """Bytes for people ("1.4 MB"); "?" when not known (0 is "0 B": every group skipped, say)."""
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def options(model_available: bool) -> dict:
    """The page's choices as the job's parameters (checked: a bad folder name stops the page saying why)."""
    c1, c2 = st.columns([1, 2])
    tiers = ["exact", "near", "similar"] if model_available else ["exact", "near"]
    tier = c1.selectbox("How alike", tiers, index=1, format_func=TIERS.get, key="dup_tier",
                        help="The tiers nest: near includes exact, similar includes both.")
    rules = c2.multiselect("Who is kept in each group (rules in order)", list(RULES), default=list(DEFAULT_KEEP),
                           format_func=RULES.get, key="dup_rules",
                           help="The first rule decides; the next ones break ties. Reference folders come first.")
    c3, c4, c5 = st.columns(3)
    fmt = c3.selectbox("Prefer a format", ["", "jpg", "png", "webp"], key="dup_format",
                       format_func=lambda f: f.upper() if f else "no preference")
    refs = c4.text_input("Reference folders (kept, never moved)", key="dup_refs", placeholder="masters, originals",
                         help="Folders inside the source, comma-separated: their images are always kept.")
    where = c5.radio("The other copies go", ["folder", "trash"], horizontal=True, key="dup_where",
                     format_func={"folder": "to a duplicates folder", "trash": "to the trash"}.get)
    to = st.text_input("Duplicates folder (inside the source)", value="duplicates", key="dup_folder",
                       disabled=where == "trash") if where == "folder" else "trash"
    keep = ([f"format:{fmt}"] if fmt else []) + (rules or list(DEFAULT_KEEP))
    folders = [f.strip() for f in refs.split(",") if f.strip()]
    try:
        jobs.duplicate_settings("", tier, keep, folders, to)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    return {"tier": tier, "keep": keep, "reference_folders": folders, "to": to.strip()}


def _when(t: float | None) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "?"


def _member(storage: Storage, db: PlanDB, group: int, n: int, item, relative: str) -> None:
    s = item.scores
    kept = item.action == "keep"
    data = preview_url_or_bytes(storage, item.source)
    if data:
        st.image(data, width="stretch")
    mark = ("⭐ keeper" if item.source == s.get("keeper") else "🔒 reference" if s.get("reference") else "kept") \
        if kept else "→ moves"
    tier = f" · {s['tier']}" if s.get("tier") else ""
    st.caption(f"**{mark}**{tier}  \n{s.get('width', '?')}×{s.get('height', '?')} · {human_size(s.get('size'))} · "
               f"{_when(s.get('mtime'))}  \n`{relative}`", help=item.source)
    if item.source != s.get("keeper"):
        if st.button("⭐ Keep this one", key=f"dup_keeper_{group}_{n}"):
            db.set_keeper(group, n)
            st.rerun()


def groups_view(storage: Storage, db: PlanDB, prefix: str) -> None:
    """Filters (tier, folder), a page of groups, and per group its images with a keep button each, and
    skip / take again."""
    c1, c2, c3 = st.columns([1, 2, 1])
    tier = c1.selectbox("Tier", [""] + list(TIERS), key="dup_f_tier", format_func=lambda t: t or "any tier")
    folders = db.group_folders()
    folder = c2.selectbox("Folder", [""] + [f for f, _ in folders], key="dup_f_folder",
                          format_func=lambda f: "any folder" if not f else
                          f"{f[len(prefix):] or '(top)'} ({dict(folders)[f]:,} image(s))")
    total = db.group_count(tier or None, folder or None)
    pages = max(1, -(-total // GROUPS_PER_PAGE))
    number = c3.number_input(f"Page (of {pages:,})", 1, pages, key="dup_group_page")
    if not total:
        st.info("No group matches these filters.")
        return
    shown = db.group_numbers(tier or None, folder or None, (int(number) - 1) * GROUPS_PER_PAGE, GROUPS_PER_PAGE)
    members = db.group_members(shown)
    st.caption(f"Groups {(int(number) - 1) * GROUPS_PER_PAGE + 1:,}–{(int(number) - 1) * GROUPS_PER_PAGE + len(shown):,} "
               f"of {total:,}. ⭐ is kept; the others move. Click **Keep this one** to keep another image instead.")
    for g in shown:
        items = members[g]
        moving = [i for _, i in items if i.action != "keep"]
        tiers = sorted({i.scores["tier"] for _, i in items if i.scores.get("tier")})
        keeper = next((i.scores.get("keeper") for _, i in items), "")
        with st.container(border=True, key=f"dup_group_{g}"):
            head, button = st.columns([5, 1])
            what = (f"skipped: all {len(items)} stay (**Take again**, or ⭐ one of them to keep it and move the others)"
                    if not moving else f"keeps `{posixpath.basename(keeper)}`"
                    + (" · keeper chosen by you" if any(i.scores.get("chosen_by_user") for _, i in items) else ""))
            head.markdown(f"**Group {g}** · {len(items)} images · {', '.join(tiers) or 'exact'} · {what}")
            numbers = [n for n, _ in items]
            if moving:
                if button.button("Skip (keep all)", key=f"dup_skip_{g}"):
                    db.keep(numbers)
                    st.rerun()
            elif db.movable(numbers) and button.button("Take again", key=f"dup_take_{g}"):
                db.unkeep(numbers)
                st.rerun()
            cols = st.columns(6)
            for k, (n, item) in enumerate(items[:SHOWN_PER_GROUP]):
                with cols[k % 6]:
                    _member(storage, db, g, n, item, item.source[len(prefix):])
            if len(items) > SHOWN_PER_GROUP:
                st.caption(f"… and {len(items) - SHOWN_PER_GROUP} more in this group (see the whole plan below).")
