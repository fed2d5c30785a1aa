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

if st.button("Find placeholders", type="primary"):
    ui.clear_results()
    ui.analyse(storage, prefix, "placeholders", examples=examples)
results = st.session_state.get("result_placeholders_analysis")
if results is None:
    st.info(f"Press **Find placeholders** to check {storage.description}"
            f"{f' under `{prefix}`' if prefix else ''}. Nothing moves until you confirm.")
    st.stop()
if not results:
    st.warning("No images found in this folder.")
    st.stop()

ui.show_report_if_done("placeholders")
ui.show_errors(results)
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
