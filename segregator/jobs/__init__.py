"""The jobs: each a module (classify, reference, placeholders, duplicates, teach, and the moves: apply, resume, undo,
empty trash), over what they share (sources, analysis, plan items); `runner` runs them outside the page.

The UI and the CLI both call these; neither holds job logic of its own. The names below are the package's
public face (`from segregator import jobs; jobs.classification_plan(...)`).
"""

from ..journal import RunStore  # noqa: F401
from ..settings import Settings  # noqa: F401
from ..runs import (R2_NOT_CONFIGURED, TRASH, empty_trash, refuse_over_unfinished, resume, run_plan,  # noqa: F401
                    storage_for_record, trash_keys, trash_plan, undo, undo_plan, undo_target)
from .analyse import CHUNK, analyse_source, checked_settings, iter_analysis, load_reference  # noqa: F401
from .classify import classification_header, classification_items, classification_plan, classifier_categories  # noqa: F401,E501
from .common import OUTPUT_FOLDERS, check_folder_name, edit_plan, plan_categories, result_options  # noqa: F401
from .duplicates import Grouped, duplicate_settings, duplicates_header, duplicates_items, group_results  # noqa: F401
from .placeholders import placeholder_header, placeholder_items, placeholder_plan  # noqa: F401
from .reference import (ReferenceMatch, iter_matches, match_reference, reference_header, reference_items,  # noqa: F401
                        reference_plan)
from .sources import (faces_in, gallery_listing, open_source, storage_for_plan, storage_record,  # noqa: F401
                      thumbnail_jpeg)
from .teach import (describe_taught, models_dir, save_taught_model, taught_model_name, taught_model_path, taught_models,  # noqa: F401
                    teach)
