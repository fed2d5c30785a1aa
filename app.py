"""AI Image Segregator: full-folder classification (the home page). Thin: inputs, engine calls, rendering."""

import streamlit as st

from segregator import jobs, ui

storage, prefix = ui.page("AI Image Segregator", "🗂️", (
    "📁 Local Full Folder: sort every image into a category folder; placeholders go to `no_image/`.",
    "☁️ R2 Full Bucket: sort every image into a category folder; placeholders go to `no_image/`."))

classifier = ui.classifier_picker()
faces_folder = ui.faces_folder_option()
ui.teach_panel(storage, prefix)
results = ui.analysis_step(storage, prefix, "classify", "Analyse", "classify the images in", classifier=classifier,
                           faces=faces_folder is not None)
try:
    plan = jobs.classification_plan(storage, results, prefix, faces_folder=faces_folder)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
st.subheader("Plan")
st.caption("Untick an image to keep it where it is, or pick another category for it.")
plan = ui.edit_plan_table(plan, "classify_editor")
ui.show_plan_groups(storage, plan)
ui.show_json_preview(plan, "classification_plan.json")
ui.confirm_and_run(storage, plan, "classify")
