"""⚡ Scanner: the folders under a prefix with their image counts and samples; pick one as the source."""

import streamlit as st

from segregator import ui

storage, prefix = ui.page("Scanner", "⚡", "Quick Scan lists the folders directly under the source with how many "
                          "images each holds, its subfolders included (it reads up to 3,000 keys per folder and marks "
                          "counts that stopped there with +), and a few samples from below.")

here = ui.source_spec(storage, prefix)  # a scan is of one source: another one (after "Use this folder") needs its own
if st.button("⚡ Quick Scan", type="primary"):
    try:
        st.session_state["result_scan"] = (here, storage.quick_scan(prefix))
    except OSError as exc:
        st.error(f"Cannot scan: {exc}")
scanned, scan = st.session_state.get("result_scan") or (None, None)
if scanned != here:
    st.info(f"Press **Quick Scan** to look inside {storage.description}{f' under `{prefix}`' if prefix else ''}.")
    st.stop()

for i, folder in enumerate(scan):
    count = f"{folder.image_count:,}{'' if folder.complete else '+'} image(s)"
    if folder.direct_count != folder.image_count:
        count += f" ({folder.direct_count:,} directly in it)"
    with st.container(border=True):
        left, middle, right = st.columns([3, 5, 2], vertical_alignment="center")
        left.markdown(f"`{folder.prefix or '/'}`  \n{count}")
        with middle:
            cols = st.columns(3)
            for col, key in zip(cols, folder.samples):
                with col:
                    preview = ui.preview_url_or_bytes(storage, key)
                    if preview:
                        st.image(preview, width=120)
        right.button("Use this folder", key=f"use_{i}", on_click=ui.use_folder, args=(storage, folder.prefix),
                     disabled=folder.prefix == prefix)
