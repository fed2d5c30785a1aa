"""🔍 Local By Reference: move only the images that look like an uploaded reference image."""

import posixpath

import streamlit as st

from segregator import jobs, ui
from segregator.jobs.kinds import save_upload
from segregator.loading import ImageLoadError
from segregator.plandb import PlanFilter

storage, prefix = ui.page("By Reference", "🔍", (
    "🔍 Local By Reference: upload a reference image; the images that look like it move to the output folder.",
    "☁️ R2 By Reference: upload a reference image; the images that look like it move to the output folder."))

upload = st.file_uploader("Reference image", type=["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"],
                          max_upload_size=ui.MAX_UPLOAD_MB, key="reference_upload")
output = ui.output_folder_input("Output folder (inside the source; start with / for a path from the top)", "similar",
                                "reference_output")
embedding = ui.embedding_option()
if upload is None:
    st.info("Upload a reference image to start.")
    st.stop()
try:
    jobs.load_reference(upload.getvalue(), ui.settings(embedding=embedding))
except ImageLoadError as exc:
    st.error(f"The reference cannot be used: {exc}.")
    st.stop()
st.image(upload.getvalue(), caption="Reference", width=200)

params = {"settings": ui.settings_overrides(embedding=embedding), "reference": save_upload(upload.getvalue(), upload.name),
          "output": output}
db = ui.analysis_step(storage, prefix, "reference", "similar", "Find similar images", "compare it with the images in",
                      params, "find similar images")


def caption(item) -> str:
    s = item.scores
    text = f"{posixpath.basename(item.source)} · d{s.get('hamming')} · px {s.get('pixel_similarity', 0):.2f}"
    return text + (f" · content {s['embedding_similarity']:.2f}" if s.get("embedding_similarity") is not None else "")


matches = db.page(PlanFilter(folder=db.plan.output_prefix), 0, ui.THUMBS_PER_PAGE)
found = db.count(PlanFilter(folder=db.plan.output_prefix))
left, right = st.columns(2)
with left:
    st.subheader(f"Matches ({found:,})")
    ui.show_grid(storage, [(i.source, caption(i)) for _, i in matches], columns=3)
    if found > len(matches):
        st.caption(f"… and {found - len(matches):,} more (the plan below lists them all)")
with right:
    st.subheader("Nearest non-matches")
    ui.show_grid(storage, [(i.source, caption(i)) for _, i in db.nearest("hamming", 12)], columns=3)
with st.expander("The whole plan"):
    ui.plan_view(storage, db, "reference")
ui.plan_json(db, "reference_plan.jsonl")
ui.confirm_step(storage, db, "reference")
