"""Thumbnails of objects: presigned URLs on R2 (the browser fetches them), small JPEGs from folders; faces."""

from __future__ import annotations

import streamlit as st

from .. import jobs
from ..storage import Storage

THUMBS_PER_PAGE = 24


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


def short_reason(reason: str, limit: int = 80) -> str:
    """A reason cut to fit a caption at a phrase boundary ("; "), never mid-phrase; "…" when phrases were left."""
    phrases = [p for p in (reason or "").split("; ") if p]
    out = ""
    for p in phrases:
        joined = f"{out}; {p}" if out else p
        if len(joined) > limit:
            break
        out = joined
    if not out and phrases:  # one phrase longer than the caption: cut at a word
        out = phrases[0][:limit].rsplit(" ", 1)[0]
    return out + (" …" if out != "; ".join(phrases) else "")


def show_image(storage: Storage, key: str, caption: str, width: int | str = 160) -> None:
    """A thumbnail of one object with a short caption (the whole key shows on hover), or just the caption
    when it cannot be decoded."""
    data = preview_url_or_bytes(storage, key)
    if data:
        st.image(data, width=width)
    st.caption(caption if data else f"{caption} (no preview)", help=key)


def show_grid(storage: Storage, entries, columns: int = 6) -> None:
    """Thumbnails in a grid: entries are (key, caption)."""
    cols = st.columns(columns)
    for i, (key, caption) in enumerate(entries):
        with cols[i % columns]:
            show_image(storage, key, caption, "stretch")


def faces_toggle() -> bool:
    """The gallery's 'mark faces' switch (off, and disabled, without OpenCV)."""
    from ..faces import available

    return st.toggle("🙂 Mark faces", key="gallery_faces", disabled=not available(),
                     help=None if available() else "Face detection needs opencv-python-headless")


@st.cache_data(ttl=600, max_entries=5000, show_spinner=False)
def _faces(_storage: Storage, where: str, key: str) -> int:
    return len(jobs.faces_in(_storage, key))


def face_count(storage: Storage, key: str) -> int:
    """Faces found in one object (0 when it cannot be read), cached for ten minutes."""
    return _faces(storage, storage.description, key)
