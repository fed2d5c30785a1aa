"""🚫 Placeholders: find "No Image Available" style images and move them to no_image/."""

import streamlit as st

from segregator import jobs, ui
from segregator.jobs.kinds import save_upload
from segregator.loading import ImageLoadError
from segregator.placeholders import tesseract_available
from segregator.plandb import PlanFilter

storage, prefix = ui.page("Placeholders", "🚫",
                          "Text placeholders (\"No Image Available\", \"Coming Soon\", \"No Floor Plan\"), grey "
                          "icons and blank images move to `no_image/`. Add examples of your own site's placeholders "
                          "to catch those too.")

uploads = st.file_uploader("Known placeholder examples (optional)", accept_multiple_files=True,
                           type=["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"], max_upload_size=ui.MAX_UPLOAD_MB,
                           key="placeholder_examples")
examples = []
for up in uploads or []:
    try:
        jobs.load_reference(up.getvalue(), ui.settings())
        examples.append(save_upload(up.getvalue(), up.name))
    except ImageLoadError as exc:
        st.warning(f"Example {up.name} is not usable: {exc}.")

# the image model where installed, as classify: its evidence keeps product cut-outs on white out of no_image/
params = {"settings": {**ui.settings_overrides("auto"), "faces.detect": "off"}, "examples": sorted(examples)}
db = ui.analysis_step(storage, prefix, "placeholders", "placeholders", "Find placeholders", "check", params,
                      "find placeholders")
if not tesseract_available():
    st.info("OCR is off (Tesseract is not installed): placeholders are found by their look only.")
where = PlanFilter(folder=db.plan.output_prefix)
found = db.count(where)
st.subheader(f"Placeholders found ({found:,})")
shown = db.page(where, 0, ui.THUMBS_PER_PAGE)
ui.show_grid(storage, [(i.source, f"{i.source.rsplit('/', 1)[-1]} · {ui.short_reason(i.reason, 60)}") for _, i in shown])
with st.expander("Why each image was flagged (the whole plan)"):
    ui.plan_view(storage, db, "placeholders")
ui.plan_json(db, "placeholder_plan.jsonl")
ui.confirm_step(storage, db, "placeholders")
