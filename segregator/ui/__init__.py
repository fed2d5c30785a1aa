"""Streamlit pieces shared by the pages. Only rendering and session state live here; every decision is an
engine call, and long work is a job of the server's runner (segregator.jobs.runner), never the script run.

access.py    who is here: sign-in, role (what a viewer is not offered), no serving beyond this machine without it
common.py    the top of every page: sidebar (storage, source kept in the URL, classifier, thresholds)
previews.py  thumbnails (presigned URLs on R2), faces
jobview.py   a page's job: start it, its live progress, its plan a page at a time, the confirm step
runsview.py  runs and trash for the storage in view, the gallery's delete, teach by example
"""

from ..jobs.runner import MOVE_KINDS  # noqa: F401
from .access import account_sidebar, can_act_on, can_change, gate, user, write_blocked  # noqa: F401
from .common import (DEFAULTS, MAX_UPLOAD_MB, classifier_picker, embedding_option, faces_folder_option,  # noqa: F401
                     folder_concern, keep_in_url, keep_source_in_url, kept, mode_label, nav, output_folder_input, page, reference_upload, session_log, settings, settings_overrides,
                     sidebar, use_folder)
from .jobview import (analysis_step, confirm_step, job_outcome, job_progress, latest_job, moving_grid,  # noqa: F401
                      move_verb, plan_json, plan_move, plan_view, runner, show_notice, show_run_result, source_spec, start_job,
                      start_run, store)
from .previews import (THUMBS_PER_PAGE, face_count, faces_toggle, preview_url_or_bytes, short_reason,  # noqa: F401
                       show_grid, show_image)
from .runsview import delete_to_trash, runs_panel, teach_panel  # noqa: F401
