"""🚫 Placeholders: find "No Image Available" style images and move them to no_image/."""

import streamlit as st

from segregator import jobs, ui
from segregator.loading import ImageLoadError

storage, prefix = ui.page("Placeholders", "🚫",
                          "Text placeholders (\"No Image Available\", \"Coming Soon\", \"No Floor Plan\"), grey "
                          "icons and blank images move to `no_image/`. Add examples of your own site's placeholders "
                          "to catch those too.")

uploads = st.file_uploader("Known placeholder examples (optional)", accept_multiple_files=True,
                           type=["jpg", "jpeg", "png", "webp", "gif", "bmp"], max_upload_size=ui.MAX_UPLOAD_MB,
                           key="placeholder_examples")
examples = []
for up in uploads or []:
    try:
        examples.append(jobs.load_reference(up.getvalue(), ui.settings()))
    except ImageLoadError as exc:
        st.warning(f"Example {up.name} is not usable: {exc}.")

results = ui.analysis_step(storage, prefix, "placeholders", "Find placeholders", "check", examples=examples)
ocr_states = {r.placeholder.ocr for r in results if r.ok and r.placeholder}
if "unavailable" in ocr_states:
    st.info("OCR is off (Tesseract is not installed): placeholders are found by their look only.")
plan = jobs.placeholder_plan(storage, results, prefix)
found = [i for i in plan.items if i.action != "keep"]
st.subheader(f"Placeholders found ({len(found)})")
ui.show_thumbnails(storage, found, lambda i: f"{i.source} · {i.reason[:80]}")
with st.expander("Why each image was flagged"):
    st.dataframe([{"file": i.source, "score": i.confidence, "reasons": i.reason} for i in found], hide_index=True)
ui.show_json_preview(plan, "placeholder_plan.json")
ui.confirm_and_run(storage, plan, "placeholders")
