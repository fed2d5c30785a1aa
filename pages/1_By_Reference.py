"""🔍 Local By Reference: move only the images that look like an uploaded reference image."""

import posixpath

import streamlit as st

from segregator import ui
from segregator.jobs.kinds import save_upload

storage, prefix = ui.page("By Reference", "🔍", (
    "🔍 Local By Reference: upload a reference image; the images that look like it move to the output folder.",
    "☁️ R2 By Reference: upload a reference image; the images that look like it move to the output folder."))

output = ui.output_folder_input("Output folder (inside the source; start with / for a path from the top)", "similar",
                                "reference_output")
embedding = ui.embedding_option()
upload = ui.reference_upload("Reference image", "reference_upload",
                             ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"], embedding)
if upload is None:
    st.info("Upload a reference image to start.")
    st.stop()
st.image(upload.getvalue(), caption=f"Reference: {upload.name}", width=200)

params = {"settings": ui.settings_overrides(embedding=embedding), "reference": save_upload(upload.getvalue(), upload.name),
          "output": output}
db = ui.analysis_step(storage, prefix, "reference", "similar", "Find similar images", "compare it with the images in",
                      params, "find similar images")


def caption(item) -> str:
    """Name, hash distance and the best similarity found (pixels, or content when it was used)."""
    s = item.scores
    similarity = s.get("embedding_similarity") if s.get("embedding_similarity") is not None else s.get("pixel_similarity", 0)
    return f"{posixpath.basename(item.source)} · d{s.get('hamming')} · {similarity:.0%}"


ui.moving_grid(storage, db, "Matches", "Under each image: its name, the distance of its hash to the reference's (d) "
               "and its similarity. Hover a caption for the whole key.", caption, "reference_match_page")
with st.expander("Nearest non-matches (the closest images that were not taken)"):
    ui.show_grid(storage, [(i.source, caption(i)) for _, i in db.nearest("hamming", 12)])
with st.expander("The whole plan"):
    ui.plan_view(storage, db, "reference")
ui.plan_json(db, "reference_plan.jsonl")
ui.confirm_step(storage, db, "reference")
