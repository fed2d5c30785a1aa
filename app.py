"""AI Image Segregator: full-folder classification (the home page). Thin: inputs, engine calls, rendering."""

import streamlit as st

from segregator import jobs, ui

storage, prefix = ui.page("AI Image Segregator", "🗂️", (
    "📁 Local Full Folder: sort every image into a category folder; placeholders go to `no_image/`.",
    "☁️ R2 Full Bucket: sort every image into a category folder; placeholders go to `no_image/`."))

if st.button("Analyse", type="primary"):
    ui.clear_results()
    ui.analyse(storage, prefix, "classify")

results = st.session_state.get("result_classify_analysis")
if results is None:
    st.info(f"Press **Analyse** to classify the images in {storage.description}"
            f"{f' under `{prefix}`' if prefix else ''}. Nothing moves until you confirm.")
    st.stop()
if not results:
    st.warning("No images found in this folder.")
    st.stop()

ui.show_report_if_done("classify")
ui.show_errors(results)
plan = jobs.classification_plan(storage, results, prefix)
st.subheader("Plan")
st.caption("Untick an image to keep it where it is, or pick another category for it.")
edited = st.data_editor(
    ui.as_rows(plan), key="classify_editor", hide_index=True, disabled=["file", "confidence", "reason"],
    column_config={
        "move": st.column_config.CheckboxColumn("Move"),
        "category": st.column_config.SelectboxColumn("Category", options=ui.category_options()),
        "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="%.2f"),
    },
)
keep = [row["file"] for row in edited if not row["move"]]
changed = {row["file"]: row["category"] for row, item in zip(edited, plan.items)
           if item.action != "keep" and row["category"] and row["category"] != item.category}
plan = jobs.edit_plan(plan, keep=keep, recategorise=changed)
ui.show_plan_groups(storage, plan)
ui.show_json_preview(plan, "classification_plan.json")
ui.confirm_and_run(storage, plan, "classify")
