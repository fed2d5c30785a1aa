"""👯 Duplicates: groups of copies across the source; one image of each group is kept, the others move to
duplicates/<group>/ (or to the trash) once confirmed."""

import streamlit as st

from segregator import ui
from segregator.learned import available as model_available
from segregator.ui.groupsview import groups_view, human_size, options

storage, prefix = ui.page("Duplicates", "👯",
                          "Copies of the same photo across the whole source (every subfolder): identical files, "
                          "resized, recompressed, brightened, watermarked, lightly cropped or mirrored copies, and "
                          "with the image model re-framed ones. One of each group is kept; you choose which.")
with st.expander("↩ Undo a run, empty the trash"):
    ui.runs_panel(storage)

params = {"settings": ui.settings_overrides(), **options(model_available())}
db = ui.analysis_step(storage, prefix, "duplicates", "duplicates", "Find duplicates", "find copies among the images in",
                      params, "find duplicates")
moved = ui.plan_move(storage, db)
if moved is not None and moved.run_id:  # its run has begun: these groups are not what the folder holds any more
    st.info(f"Run {moved.run_id} {ui.move_verb(moved)} the copies of these groups, so they are not shown any more. "
            "Press **Find duplicates** to look again at what is there now.")
    ui.confirm_step(storage, db, "duplicates")  # the move's progress, or what it did
    st.stop()
summary = db.summary()
groups = db.group_count()
if not groups:
    st.success(f"No duplicates among {summary['total'] - summary['errors']:,} image(s).")
    st.stop()
st.subheader(f"{groups:,} group(s) of copies")
st.caption(f"{summary['total'] - summary['errors']:,} image(s) compared; {summary['to_move']:,} copies to move "
           f"({human_size(db.bytes_to_move())} in all), the keepers stay.")
left, _ = st.columns([1, 3])
if left.button("✔ Accept all", key="dup_accept_all", help="Take every group as suggested again: skipped groups and "
               "unticked rows move too (keepers you chose stay chosen)."):
    db.accept_all()
    st.rerun()
groups_view(storage, db, prefix)
with st.expander("The whole plan"):
    ui.plan_view(storage, db, "duplicates")
ui.plan_json(db, "duplicates_plan.jsonl")
ui.confirm_step(storage, db, "duplicates")
