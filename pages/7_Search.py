"""🔎 Search: find images by their tags or by likeness to an uploaded image, then move or copy the hits
(the confirm step's "Copy instead of move" keeps the originals)."""

import posixpath
from pathlib import Path

import streamlit as st

from segregator import ui
from segregator.jobs.kinds import save_upload, uploaded
from segregator.jobs.search import MIN_LIKENESS, open_store
from segregator.loading import ImageLoadError, load_image
from segregator.settings import CATEGORIES

storage, prefix = ui.page("Search", "🔎", (
    "🔎 Local Search: find images by what they show (tags such as *pizza*, *red, sports car*, *faces: 2*) or by "
    "an image like them; the hits you keep move or are copied to a folder.",
    "☁️ R2 Search: find images by what they show or by an image like them; the hits you keep move or are copied "
    "to a folder."))

CHOICES = {"by": ("search_by", "tags"), "tags": ("search_tags", ""), "category": ("search_category", ""),
           "faces": ("search_faces", False), "top": ("search_top", 50), "like": ("search_like", ""),
           "min": ("search_min", MIN_LIKENESS)}
ui.keep_in_url(**CHOICES)
by_image = st.radio("Search by", ["tags", "an image"], horizontal=True, **ui.kept("search_by", "tags")) == "an image"
params: dict = {"settings": ui.settings_overrides(classifier="learned")}
if by_image:
    upload = st.file_uploader("Image to search by", ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"],
                              key="search_upload")
    if upload is not None:
        try:
            load_image(upload.getvalue(), 64)
        except ImageLoadError as exc:
            st.error(f"{upload.name} cannot be used: {exc}")
            st.stop()
        st.session_state["search_like"] = Path(save_upload(upload.getvalue(), upload.name)).name
        ui.keep_in_url(**CHOICES)  # into the URL now: a reload right after the upload keeps it
    kept = uploaded(st.session_state.get("search_like", ""))  # the last image searched by (kept in the URL)
    if kept is None:
        st.info("Upload an image: the images most like it are found.")
        st.stop()
    st.image(str(kept), caption="the image searched by (upload another to change it)", width=160)
    params["like"] = str(kept)
    if not 0.0 <= float(st.session_state.get("search_min", MIN_LIKENESS)) <= 1.0:  # from a hand-made link
        st.session_state["search_min"] = MIN_LIKENESS
    params["min_score"] = float(st.slider(
        "Minimum likeness", 0.0, 1.0, step=0.05, **ui.kept("search_min", MIN_LIKENESS),
        help="How alike an image must be to be a hit (cosine of the image model's embeddings). Unrelated photos "
             "score about 0.2; a re-framed or quarter-cut copy of the same photo 0.5-0.8; a resized or mirrored "
             "one above 0.85. At 0, the closest images come back however unlike they are."))
else:
    c1, c2 = st.columns([3, 2])
    text = c1.text_input("Tags (comma-separated; every term must match)", **ui.kept("search_tags", ""),
                         placeholder="e.g. pizza · red, sports car · faces: 2")
    category = c2.selectbox("Category", [""] + list(CATEGORIES) + ["no_image"], **ui.kept("search_category", ""),
                            format_func=lambda c: c or "any category")
    faces = st.checkbox("Only images with faces", **ui.kept("search_faces", False))
    store = open_store(storage)
    try:
        last = text.split(",")[-1].strip()
        tags = store.suggestions(last, 24)
    finally:
        store.close()
    if tags:
        st.caption(("Tags here that start so: " if last else "Tags in this collection: ")
                   + " · ".join(f"`{t}` ({n:,})" for t, n in tags))
    if not text.strip() and not category and not faces:
        st.info("Type tags, pick a category or tick faces. The first search analyses the images (once; later "
                "searches read what is kept).")
        st.stop()
    params.update(tag=text.strip(), category=category, faces=faces)
c1, c2 = st.columns([1, 3])
params["top"] = int(c1.number_input("Hits", 1, 5000, **ui.kept("search_top", 50)))
with c2:
    params["output"] = ui.output_folder_input("Output folder (inside the source; start with / for a path from the top)",
                                              "search_results", "search_output")
db = ui.analysis_step(storage, prefix, "search", "search", "Search", "search the images in", params, "search")


def caption(item) -> str:
    tags = ", ".join(item.scores.get("tags", [])[:4])
    return f"{posixpath.basename(item.source)} · {item.scores.get('score', 0):.2f} · {tags}"


ui.moving_grid(storage, db, "Hits", "Under each image: its name, its score (tags: how surely it has them; an image: "
               "how alike) and its first tags. Untick a hit in the plan below to leave it where it is.", caption,
               "search_hit_page")
with st.expander("The whole plan (untick hits to keep them where they are)"):
    ui.plan_view(storage, db, "search")
ui.plan_json(db, "search_plan.jsonl")
ui.confirm_step(storage, db, "search")
