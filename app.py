"""AI Image Segregator: full-folder classification (the home page). Thin: inputs, engine calls, rendering."""

import streamlit as st

from segregator import ui

storage, prefix = ui.page("AI Image Segregator", "🗂️", (
    "📁 Local Full Folder: sort every image into a category folder; placeholders go to `no_image/`.",
    "☁️ R2 Full Bucket: sort every image into a category folder; placeholders go to `no_image/`."))

classifier = ui.classifier_picker()
faces_folder = ui.faces_folder_option()
ui.teach_panel(storage, prefix)
with st.expander("↩ Undo a run, empty the trash"):
    ui.runs_panel(storage)
params = {"settings": ui.settings_overrides(classifier, faces=faces_folder is not None), "faces_folder": faces_folder}
db = ui.analysis_step(storage, prefix, "classify", "classify", "Analyse", "classify the images in", params, "classify")
st.subheader("Plan")
ui.plan_view(storage, db, "classify")
ui.plan_json(db, "classification_plan.jsonl")
ui.confirm_step(storage, db, "classify")
