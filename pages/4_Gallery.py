"""🖼️ Gallery: browse folders visually, sort a folder by a reference image, delete selected images safely."""

import math
import posixpath

import streamlit as st

from segregator import jobs, ui
from segregator.loading import ImageLoadError

PER_PAGE = 24

storage, prefix = ui.page("Gallery", "🖼️", "Browse folders and subfolders. Select images to delete them (they go to "
                          "`_trash/`, nothing is destroyed), or sort the folder by a reference image.")
ss = st.session_state


def open_folder(folder: str) -> None:
    ss["gallery_folder"] = folder
    ss["gallery_page"] = 1
    ui.clear_results()


folder = ss.get("gallery_folder", prefix)
if not folder.startswith(prefix):  # the source changed in the sidebar
    folder = prefix
    open_folder(folder)

try:
    subfolders, images = jobs.gallery_listing(storage, folder)
except OSError as exc:
    st.error(f"Cannot list this folder: {exc}")
    st.stop()

st.markdown(f"**Folder:** `{folder or '/'}` · {len(images)} image(s) · {len(subfolders)} subfolder(s)")
nav = st.columns(8)
if folder != prefix:
    parent = posixpath.dirname(folder.rstrip("/"))
    nav[0].button("⬆ Up", on_click=open_folder, args=(parent + "/" if parent else "",))
for i, sub in enumerate(subfolders):
    nav[(i + 1) % 8].button(f"📁 {sub[len(folder):].rstrip('/')}", key=f"sub_{sub}", on_click=open_folder, args=(sub,))

# ---------------------------------------------------------------- the delete flow (to the trash)
done = ss.get("result_gallery_trash")
if done:
    report, event = done
    s = report.summary()
    st.success(f"Moved {s['moved']} file(s) to `{event['output_prefix']}`" + (f"; {s['failed']} failed." if s["failed"] else "."))


@st.dialog("Delete the selected images?")
def confirm_delete(keys: list[str]) -> None:
    st.write(f"**{len(keys)} file(s)** will move to the trash (`_trash/<time>/`), where they can be restored:")
    st.code("\n".join(keys), language=None)
    left, right = st.columns(2)
    if left.button(f"Delete {len(keys)} file(s)", type="primary"):
        plan = jobs.trash_plan(storage, keys, prefix)
        outcome = ui.start_run(lambda: jobs.run_plan(plan, storage, log=ui.session_log()))
        if outcome is not None:
            ss["result_gallery_trash"] = outcome
            for key in keys:
                ss.pop(f"sel::{key}", None)
            st.rerun()
    if right.button("Cancel"):
        st.rerun()


# ---------------------------------------------------------------- thumbnails, paged
if images:
    pages = max(1, math.ceil(len(images) / PER_PAGE))
    ss["gallery_page"] = min(ss.get("gallery_page", 1), pages)
    if pages > 1:
        st.number_input(f"Page (of {pages})", 1, pages, key="gallery_page")
    start = (ss["gallery_page"] - 1) * PER_PAGE
    mark_faces = ui.faces_toggle()
    cols = st.columns(6)
    for i, key in enumerate(images[start:start + PER_PAGE]):
        with cols[i % 6]:
            preview = ui.preview_url_or_bytes(storage, key)
            if preview:
                st.image(preview, width="stretch")
            faces = ui.face_count(storage, key) if mark_faces else 0
            st.checkbox(posixpath.basename(key) + (f" · 🙂 {faces}" if faces else ""), key=f"sel::{key}")
    selected = [k for k in images if ss.get(f"sel::{k}")]
    if st.button(f"🗑️ Delete selected ({len(selected)})", disabled=not selected):
        confirm_delete(selected)
else:
    st.info("No images directly in this folder.")

# ---------------------------------------------------------------- sort this folder by a reference
st.divider()
st.subheader("🔍 Sort this folder by a reference image")
upload = st.file_uploader("Reference image for this folder", type=["jpg", "jpeg", "png", "webp", "gif", "bmp"],
                          max_upload_size=ui.MAX_UPLOAD_MB, key=f"gallery_ref::{folder}")
output = ui.output_folder_input("Output subfolder", "similar", "gallery_output")
if upload is not None:
    try:
        reference = jobs.load_reference(upload.getvalue(), ui.settings())
    except ImageLoadError as exc:
        st.error(f"The reference cannot be used: {exc}.")
        st.stop()
    if st.button("Find similar in this folder", type="primary"):
        ui.clear_results()
        ui.analyse(storage, folder, "gallery", placeholders=False, recursive=False)
    results = st.session_state.get("result_gallery_analysis")
    report = st.session_state.get("result_gallery_report")
    if report:
        ui.show_report(*report)
    elif results is not None:
        matches = jobs.match_reference(reference, results, ui.settings())
        plan = jobs.reference_plan(storage, matches, folder, output or "similar")
        found = [m for m in matches if m.similarity and m.similarity.match]
        st.markdown(f"**{len(found)} match(es)** of {len(results)} image(s)")
        ui.show_thumbnails(storage, [i for i in plan.items if i.action != "keep"], lambda i: i.reason)
        ui.show_json_preview(plan, "gallery_plan.json")
        ui.confirm_and_run(storage, plan, "gallery")

st.divider()
ui.runs_panel(storage)
