"""🖼️ Gallery: browse folders visually, sort a folder by a reference image, delete selected images safely."""

import math
import posixpath

import streamlit as st

from segregator import jobs, ui
from segregator.jobs.kinds import save_upload
from segregator.plandb import PlanFilter

PER_PAGE = 24

storage, prefix = ui.page("Gallery", "🖼️", "Browse folders and subfolders. Select images to delete them (they go to "
                          "`_trash/`, nothing is destroyed), or sort the folder by a reference image.")
ss = st.session_state


def open_folder(folder: str) -> None:
    ss["gallery_folder"] = folder
    ss["gallery_page"] = 1


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
nav = st.columns(4)
slots = ([("⬆ Up", posixpath.dirname(folder.rstrip("/")) + "/" if posixpath.dirname(folder.rstrip("/")) else "")]
         if folder != prefix else []) + [(f"📁 {sub[len(folder):].rstrip('/')}", sub) for sub in subfolders]
for i, (label, target) in enumerate(slots):
    nav[i % 4].button(label, key=f"nav_{target}", on_click=open_folder, args=(target,), help=target or "/",
                      width="stretch")

# ---------------------------------------------------------------- the delete flow (to the trash), as a job
later = ui.latest_job(("resume", "undo", "empty_trash"), ui.source_spec(storage))  # the banner of the latest action only
trash_job = ui.latest_job("apply", ui.source_spec(storage, prefix), lambda j: j.params.get("trash") and
                          j.id > max(ss.get("gallery_trash_after", 0), later.id if later else 0))
if trash_job is not None and ui.job_outcome(trash_job, "gallery_trash", "deleting to the trash"):
    s = (trash_job.result or {}).get("summary", {})
    st.success(f"Moved {s.get('moved', 0)} file(s) to the trash" + (f"; {s['failed']} failed." if s.get("failed") else "."))
    if st.button("OK", key="gallery_trash_ok"):
        ss["gallery_trash_after"] = trash_job.id
        st.rerun()


@st.dialog("Delete the selected images?")
def confirm_delete(keys: list[str]) -> None:
    st.write(f"**{len(keys)} file(s)** will move to the trash (`_trash/<time>/`), where they can be restored:")
    st.code("\n".join(keys), language=None)
    left, right = st.columns(2)
    if left.button(f"Delete {len(keys)} file(s)", type="primary"):
        ui.delete_to_trash(storage, prefix, keys)
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
    if not ui.can_change():
        st.caption("👁️ Viewers browse; deleting needs an editor.")
    elif not ui.write_blocked(storage) and st.button(f"🗑️ Delete selected ({len(selected)})", disabled=not selected):
        confirm_delete(selected)
else:
    st.info("No images directly in this folder.")

# ---------------------------------------------------------------- sort this folder by a reference
st.divider()
st.subheader("🔍 Sort this folder by a reference image")
output = ui.output_folder_input("Output subfolder", "similar", "gallery_output")
upload = ui.reference_upload("Reference image for this folder", f"gallery_ref::{folder}",
                             ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"])
if upload is not None:
    params = {"settings": ui.settings_overrides(), "reference": save_upload(upload.getvalue(), upload.name),
              "output": output, "recursive": False}
    db = ui.analysis_step(storage, folder, "gallery", "similar", "Find similar in this folder", "compare it with",
                          params, "find similar in a folder")
    where = PlanFilter(folder=db.plan.output_prefix)
    st.markdown(f"**{db.count(where)} match(es)** of {db.summary()['total']} image(s)")
    ui.show_grid(storage, [(i.source, posixpath.basename(i.source)) for _, i in db.page(where, 0, ui.THUMBS_PER_PAGE)])
    ui.plan_json(db, "gallery_plan.jsonl")
    ui.confirm_step(storage, db, "gallery")

st.divider()
ui.runs_panel(storage)
