"""🔍 Local By Reference: move only the images that look like an uploaded reference image."""

import streamlit as st

from segregator import jobs, ui
from segregator.loading import ImageLoadError

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
    reference = jobs.load_reference(upload.getvalue(), ui.settings(embedding=embedding))
except ImageLoadError as exc:
    st.error(f"The reference cannot be used: {exc}.")
    st.stop()
st.image(upload.getvalue(), caption="Reference", width=200)

results = ui.analysis_step(storage, prefix, "reference", "Find similar images", "compare it with the images in",
                           placeholders=False, embedding=embedding)
matches = jobs.match_reference(reference, results, ui.settings(embedding=embedding))
plan = jobs.reference_plan(storage, matches, prefix, output or "similar")
found = [m for m in matches if m.similarity and m.similarity.match]
near = sorted((m for m in matches if m.similarity and not m.similarity.match),
              key=lambda m: (m.similarity.hamming, -m.similarity.pixel_similarity))[:12]
left, right = st.columns(2)
with left:
    st.subheader(f"Matches ({len(found)})")
    for m in found:
        ui.show_image(storage, m.result.key, ui.similarity_caption(m))
with right:
    st.subheader("Nearest non-matches")
    for m in near:
        ui.show_image(storage, m.result.key, ui.similarity_caption(m))
ui.show_json_preview(plan, "reference_plan.json")
ui.confirm_and_run(storage, plan, "reference")
