"""The top of every page: configuration, title, and the sidebar (storage, source, classifier, thresholds);
the source survives a reload (it is kept in the page's URL) and a folder that would sort more than the user
means (the whole disk, the home folder, the app's own folder) needs an explicit yes."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st
from dotenv import load_dotenv

from .. import auth, jobs
from ..analysis import default_workers
from ..loading import ImageLoadError
from ..demo import DEMO_PREFIX, REPO_ROOT, demo_folder, ensure_demo_folder, seed_demo_bucket, start_demo_bucket
from ..placeholders import tesseract_available
from ..r2 import R2Config, list_buckets
from ..session_log import SessionLog
from ..settings import Settings
from ..storage import LocalStorage, Storage
from .access import account_sidebar, can_change, folder_refusal, gate, user

load_dotenv()  # R2_* and SEGREGATOR_* from .env, as the CLI does
DEFAULTS = Settings()
MAX_UPLOAD_MB = 20


def session_log() -> SessionLog:
    return SessionLog()


def settings_overrides(classifier: str = "heuristic", faces: bool = False, embedding: float = 0.0) -> dict:
    """The sidebar's thresholds (and a page's own options) as setting overrides: what a job is given."""
    ss = st.session_state
    return {
        "faces.detect": "on" if faces else "auto",
        "similarity.min_embedding_similarity": float(embedding),
        "similarity.max_hamming": int(ss.get("t_hamming", DEFAULTS.similarity.max_hamming)),
        "similarity.min_pixel_similarity": float(ss.get("t_pixel", DEFAULTS.similarity.min_pixel_similarity)),
        "placeholder.sensitivity": float(ss.get("t_sensitivity", DEFAULTS.placeholder.sensitivity)),
        "placeholder.ocr": bool(ss.get("t_ocr", True)),
        "classifier.backend": classifier,
        **({"classifier.min_familiarity": float(ss.get("t_familiarity", DEFAULTS.classifier.min_familiarity))}
           if classifier not in ("auto", "heuristic", "learned") else {}),
    }


def settings(classifier: str = "heuristic", faces: bool = False, embedding: float = 0.0) -> Settings:
    """The engine settings with the sidebar's thresholds applied. Only the classify page asks for a
    classifier; the other jobs need no categories and skip the image model."""
    return DEFAULTS.with_overrides(settings_overrides(classifier, faces, embedding))


def _keep(name: str):
    """Widget values are dropped on a page switch; keep each in a session key of its own."""
    def copy() -> None:
        st.session_state[name] = st.session_state[f"{name}_input"]
    return copy


def classifier_picker() -> str:
    """The classifier for the classify page: the image model, the colour/edge heuristic, or one the user
    taught; returns its backend name or a taught classifier's path. Drawn at the top of the sidebar."""
    from ..learned import available

    ss = st.session_state
    taught = {jobs.taught_model_name(p): str(p) for p in jobs.taught_models()}
    options = (["learned"] if available() else []) + ["heuristic"] + [f"taught:{name}" for name in taught]
    if ss.get("classifier") not in options:
        ss["classifier"] = options[0]
    ss["classifier_input"] = ss["classifier"]
    labels = {"learned": "🧠 Image model (EfficientNet-Lite0, offline)", "heuristic": "🎨 Colour and edge features"}
    with SIDEBAR_TOP.get("slot") or st.sidebar:
        st.selectbox("Classifier", options, key="classifier_input", on_change=_keep("classifier"),
                     format_func=lambda o: labels.get(o, f"🎓 Taught: {o[len('taught:'):]}"),
                     help="The image model sorts into the nine categories; a taught classifier into your own.")
    choice = ss["classifier"]
    if choice.startswith("taught:"):
        ss.setdefault("t_familiarity", DEFAULTS.classifier.min_familiarity)
        ss["t_familiarity_input"] = ss["t_familiarity"]
        with SIDEBAR_TOP.get("slot") or st.sidebar:
            st.slider("Unknown below similarity", 0.0, 0.95, key="t_familiarity_input", step=0.01,
                      on_change=_keep("t_familiarity"),
                      help="An image whose likeness to the nearest example (cosine similarity of the image model's "
                           "embeddings) is below this is unlike every taught category: it stays where it is, with "
                           "the reason. 0 = always pick a category.")
    return taught[choice[len("taught:"):]] if choice.startswith("taught:") else choice


SIDEBAR_TOP: dict = {}  # a slot under the source, where a page puts the choices that decide its run


def embedding_option() -> float:
    """By Reference: the third stage (the image model's content similarity) and its threshold; 0 when off."""
    from ..learned import available

    if not available():
        return 0.0
    left, right = st.columns([2, 1])
    on = left.checkbox("🧠 Also match by content (image model): finds re-framed and cropped copies",
                       key="reference_embeddings")
    threshold = right.slider("Content similarity", 0.5, 0.99, 0.80, 0.01, key="reference_embedding_threshold",
                             disabled=not on, help="Cosine similarity of the image model's embeddings")
    return float(threshold) if on else 0.0


class Reference:
    """An accepted reference image, kept in the session (the upload box is emptied once it is taken)."""

    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def reference_upload(label: str, key: str, types: list[str], embedding: float = 0.0) -> Reference | None:
    """One reference image at a time. A dropped file is checked and, when it can be used, becomes the
    reference and the box is emptied (so no chip of it, or of a file refused earlier, stays behind); a file
    that cannot be used is taken out the same way, with a message naming it. Returns the reference or None."""
    ss = st.session_state
    box = f"{key}::{ss.get(f'{key}_round', 0)}"
    upload = st.file_uploader(label, type=types, max_upload_size=MAX_UPLOAD_MB, key=box,
                              help="Drop another image to replace the reference.")
    if upload is not None:
        ss[f"{key}_round"] = ss.get(f"{key}_round", 0) + 1  # a new, empty box next time
        try:
            jobs.load_reference(upload.getvalue(), settings(embedding=embedding))
        except ImageLoadError as exc:
            ss[f"{key}_refused"] = f"{upload.name} cannot be used as a reference: {exc}. Drop another image."
        else:
            ss[f"{key}_accepted"] = Reference(upload.name, upload.getvalue())
            ss.pop(f"{key}_refused", None)
        st.rerun()
    if ss.get(f"{key}_refused"):
        st.error(ss[f"{key}_refused"])
    return ss.get(f"{key}_accepted")


def output_folder_input(label: str, default: str, key: str) -> str:
    """A text box for an output folder, checked as it is typed: a name that would leave the source (or use
    the tool's own folders) is refused here, before anything is analysed or moved."""
    value = st.text_input(label, value=default, key=key)
    try:
        return ("/" if value.strip().startswith("/") else "") + jobs.check_folder_name(value or default)
    except ValueError as exc:
        return input_problem("Output folder", exc, value)


def input_problem(what: str, exc: Exception, value: str) -> str:
    """An input that cannot be used: said where it is typed; the page goes on drawing (a running job's progress,
    the results, the runs panel), but nothing is analysed or moved until it is mended (see analysis_step)."""
    st.error(f"{what}: {exc}")
    st.session_state["input_problem"] = f"{what}: {exc}"
    return value


def faces_folder_option() -> str | None:
    """'Images with faces to their own folder' on the classify page: the folder's name, or None."""
    from ..faces import available

    if not available():
        return None
    keep_in_url(faces=("faces_to_folder", False), faces_folder=("faces_folder", "faces"))  # a reload keeps them
    left, right = st.columns([2, 1])
    on = left.checkbox("🙂 Images with faces to their own folder", **kept("faces_to_folder", False),
                       help="Face detection runs on every image; those with a face go to this folder.")
    name = right.text_input("Faces folder", **kept("faces_folder", "faces"), disabled=not on,
                            label_visibility="collapsed")
    if not on:
        return None
    try:
        return jobs.check_folder_name(name or "faces")
    except ValueError as exc:
        return input_problem("Faces folder", exc, name)


def _reset_thresholds() -> None:
    for key, value in _THRESHOLD_DEFAULTS.items():
        st.session_state[key] = value


_THRESHOLD_DEFAULTS = {"t_hamming": DEFAULTS.similarity.max_hamming, "t_pixel": DEFAULTS.similarity.min_pixel_similarity,
                       "t_sensitivity": DEFAULTS.placeholder.sensitivity, "t_ocr": True}


@st.cache_resource(show_spinner="Starting the local demo bucket…")
def _demo_bucket():
    import atexit

    server, config = start_demo_bucket()
    atexit.register(server.stop)
    return config


def _configured_r2() -> R2Config | None:
    try:
        return R2Config.from_env()
    except ValueError:
        return None


def r2_config() -> R2Config | None:
    """R2 from the environment / .env, else the local demo bucket; None (with a message) when neither works."""
    try:
        config = R2Config.from_env()
    except ValueError as exc:
        st.sidebar.error(f"R2 is misconfigured: {exc}")
        return None
    if config is not None:
        return config
    try:
        return _demo_bucket()
    except (OSError, ValueError) as exc:
        st.sidebar.error(f"R2 is not configured and the demo bucket could not start: {exc}")
        return None


@st.cache_data(ttl=300, show_spinner=False)
def _buckets(_config: R2Config, endpoint: str, refresh: int) -> tuple[list[str], str]:
    return list_buckets(_config)


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


# URL parameter -> (session key, parser, lowest, highest): the sidebar's thresholds survive a reload
_URL_THRESHOLDS = {"hamming": ("t_hamming", int, 0, 32), "pixel": ("t_pixel", float, 0.5, 1.0),
                   "sensitivity": ("t_sensitivity", float, 0.0, 1.0), "ocr": ("t_ocr", _flag, False, True)}


def _restore_from_url() -> None:
    """A reload starts a new session: take the source back from the page's URL (kept there by _remember)."""
    ss, q = st.session_state, st.query_params
    if ss.get("restored"):
        return
    ss["restored"] = True
    ss["url_at_start"] = q.to_dict()  # for the pages' own choices too (keep_in_url), read after the sidebar
    if q.get("storage") in ("local", "r2"):
        ss["storage_mode"] = q["storage"]
    if q.get("folder"):
        ss["source_folder"] = q["folder"]
    if q.get("bucket"):
        ss["bucket"] = q["bucket"]
    if "prefix" in q:
        ss["source_prefix"] = q["prefix"]
    if q.get("classifier"):
        ss["classifier"] = q["classifier"]  # checked against the classifiers there are when the picker is drawn
    for name, (key, parse, low, high) in _URL_THRESHOLDS.items():  # a value out of range or not a number: ignored
        try:
            value = parse(q[name]) if name in q else None
        except ValueError:
            value = None
        if value is not None and low <= value <= high:
            ss[key] = value
    if q.get("compute") in COMPUTE_MODES:
        ss["compute_mode"] = q["compute"]
        if q.get("compute_workers", "").isdigit():
            ss["compute_workers"] = max(1, min(auth.MAX_LOCAL_WORKERS, int(q["compute_workers"])))
        # no scheduler address from the URL: the app connects only to the one it was started with


def keep_source_in_url() -> None:
    """For a page without the source sidebar (Jobs): its URL keeps the session's source and choices as the other
    pages' do, so a reload there, then another page, comes back to them."""
    _restore_from_url()
    st.session_state["page_url"] = {}
    _remember()


def _remember() -> None:
    ss = st.session_state
    want = {"storage": ss.get("storage_mode", "local")}
    if want["storage"] == "local" and ss.get("source_folder"):
        want["folder"] = ss["source_folder"]
    if want["storage"] == "r2" and ss.get("bucket"):
        want.update(bucket=ss["bucket"], prefix=ss.get("source_prefix", ""))
    if ss.get("classifier"):
        want["classifier"] = ss["classifier"]
    for name, (key, parse, _, _) in _URL_THRESHOLDS.items():  # thresholds moved off their defaults
        if key in ss and ss[key] != _THRESHOLD_DEFAULTS[key]:
            want[name] = str(int(ss[key]) if isinstance(ss[key], bool) else ss[key])
    if ss.get("compute_mode", "pool") != "pool":  # where analyses run, when not this machine
        want["compute"] = ss["compute_mode"]
        if ss["compute_mode"] == "local":
            want["compute_workers"] = str(ss.get("compute_workers", 2))
    for name, (key, default) in ss.get("page_url", {}).items():  # the page's own choices, off their defaults
        value = ss.get(key, default)
        if value != default:
            want[name] = ("1" if value else "0") if isinstance(default, bool) else str(value)
    if {k: st.query_params.get(k) for k in want} != want or set(st.query_params) - set(want):
        st.query_params.from_dict(want)


def _restore_demo_folder() -> None:
    """The demo copy put back, for an editor, under the folder's run lock (not while a move runs in it)."""
    from ..locking import RunLock

    auth.authorize("restore_demo", user())
    with RunLock(LocalStorage(ensure_demo_folder()), ""):
        ensure_demo_folder(reset=True)


def folder_concern(path: Path) -> str | None:
    """Why a folder is probably not what the user means to sort (None when it looks fine)."""
    try:
        p = path.resolve()
    except OSError:
        return None
    repo = REPO_ROOT.resolve()
    if p == Path(p.anchor):
        return "the whole disk"
    if p == Path.home().resolve():
        return "your whole home folder"
    demo = demo_folder().resolve()
    if p == demo or demo in p.parents:
        return None
    if p == repo or repo in p.parents:
        return "the app's own folder"
    if p in repo.parents:
        return "a folder holding the app itself"
    return None


def _r2_sidebar() -> tuple[Storage, str] | None:
    ss = st.session_state
    config = r2_config()
    if config is None:
        return None
    st.caption(("🧪 " if config.demo else "☁️ ") + config.describe())
    if config.demo:
        st.caption("Local demo bucket seeded with the sample images: set R2_* in .env for your own account.")
    try:
        names, note = _buckets(config, config.endpoint, ss.get("bucket_refresh", 0))
    except OSError as exc:
        st.error(f"Cannot list buckets: {exc}")
        return None
    if note:
        st.info(note)
    if not names:
        st.warning("No buckets found for this key.")
        return None
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    if ss.get("bucket") and ss["bucket"] not in names:
        names = names + [ss["bucket"]]  # chosen earlier (or made since the list was read): checked below
    if not ss.get("bucket"):
        ss["bucket"] = config.bucket if config.bucket in names else names[0]
    ss["bucket_input"] = ss["bucket"]
    def bucket_changed() -> None:  # another bucket: the old prefix means nothing there
        _keep("bucket")()
        ss["source_prefix"] = ""

    left.selectbox("Bucket", names, key="bucket_input", on_change=bucket_changed)
    if right.button("↻", help="Refresh the bucket list"):
        ss["bucket_refresh"] = ss.get("bucket_refresh", 0) + 1
        st.rerun()
    ss.setdefault("source_prefix", DEMO_PREFIX if config.demo else "")
    ss["source_prefix_input"] = ss["source_prefix"]
    st.text_input("Source prefix", key="source_prefix_input", on_change=_keep("source_prefix"),
                  help="A folder in the bucket, e.g. images/masterImgs/ (empty: the whole bucket)")
    try:
        storage, prefix = jobs.open_source(f"r2://{ss['bucket']}/{ss['source_prefix'].strip()}", config)
        if prefix and storage.observe(prefix.rstrip("/")) is not None:  # the prefix names one object
            folder = prefix.rstrip("/").rpartition("/")[0]
            st.warning(f"`{prefix.rstrip('/')}` is an object, not a folder: using its folder `{folder or '/'}`.")
            prefix = folder + "/" if folder else ""
    except (OSError, ValueError) as exc:
        st.error(f"Cannot use this bucket: {exc}")
        return None
    if config.demo and can_change() and st.button("Restore demo bucket", help="Empty the demo bucket and put the samples back"):
        _confirm_restore(storage, lambda: seed_demo_bucket(storage, reset=True))
    if st.session_state.pop("restore_error", None):
        st.error(f"Not restored: {st.session_state.pop('restore_error_text', '')}")
    return storage, prefix


@st.dialog("Restore the demo?")
def _confirm_restore(storage: Storage, restore) -> None:
    """Restoring the demo replaces what the demo storage holds now: said with its count, then confirmed."""
    try:
        count = sum(1 for _ in storage.list(""))
    except OSError:
        count = None
    st.write(f"Everything in {storage.description} now ({'?' if count is None else f'{count:,}'} file(s), what you "
             "moved or copied there included) is removed, and the sample images are put back as they were.")
    left, right = st.columns(2)
    if left.button("Restore", type="primary", key="restore_yes"):
        try:
            auth.authorize("restore_demo", user())
            restore()
        except (PermissionError, OSError) as exc:  # not an editor; a run holds the folder (LockedError)
            st.session_state["restore_error"], st.session_state["restore_error_text"] = True, str(exc)
        st.rerun()
    if right.button("Cancel", key="restore_no"):
        st.rerun()


def _local_sidebar() -> tuple[Storage, str] | None:
    ss = st.session_state
    if "source_folder" not in ss:
        ss["source_folder"] = os.environ.get("SEGREGATOR_SOURCE") or str(ensure_demo_folder())
    ss["source_folder_input"] = ss["source_folder"]
    st.text_input("Source folder", key="source_folder_input", on_change=_keep("source_folder"),
                  help="A folder on this machine. The default is a copy of the sample images.")
    folder = ss["source_folder"].strip()
    if not folder:
        st.error("Enter the folder to sort.")
        return None
    path = Path(os.path.expanduser(folder))
    refused = folder_refusal(path)
    if refused:
        st.error(f"Cannot use this folder: {refused}.")
        return None
    if path.exists() and path.resolve() == demo_folder().resolve():
        st.caption("Demo folder: a working copy of the repo's sample images.")
        if can_change() and st.button("Restore demo images", help="Put the sample images back as they were"):
            _confirm_restore(LocalStorage(path), _restore_demo_folder)
        if ss.pop("restore_error", None):
            st.error(f"Not restored: {ss.pop('restore_error_text', '')}")
    concern = folder_concern(path) if path.exists() else None
    if concern:
        st.warning(f"`{path}` is {concern}: every image below it would be sorted.")
        if not st.checkbox("Yes, sort this folder", key=f"confirm_folder::{path.resolve()}"):
            return None
    try:
        return jobs.open_source(folder)
    except (OSError, ValueError) as exc:
        st.error(f"Cannot use this folder: {exc}")
        return None


PAGES = (("app.py", "Sort into categories", "🗂️"), ("pages/1_By_Reference.py", "By Reference", "🔍"),
         ("pages/2_Placeholders.py", "Placeholders", "🚫"), ("pages/3_Scanner.py", "Scanner", "⚡"),
         ("pages/4_Gallery.py", "Gallery", "🖼️"), ("pages/5_Duplicates.py", "Duplicates", "👯"),
         ("pages/7_Search.py", "Search", "🔎"), ("pages/6_Jobs.py", "Jobs", "📋"))


def nav() -> None:
    """The page list, with names (Streamlit's own list would call the home page "app"; it is turned off in
    .streamlit/config.toml). A page run on its own (as Streamlit's AppTest runs one) has no others to link."""
    from streamlit.errors import StreamlitPageNotFoundError

    for path, label, icon in PAGES:
        try:
            st.page_link(path, label=label, icon=icon)
        except StreamlitPageNotFoundError:
            return
    st.divider()


def sidebar() -> tuple[Storage, str] | None:
    """Draw the sidebar on every page; returns the chosen storage and prefix, or None (the reason is shown).
    The choices that decide a run come first (storage, source, then the page's own in SIDEBAR_TOP), the
    thresholds below."""
    ss = st.session_state
    _restore_from_url()
    ss.setdefault("storage_mode", "local")
    ss["storage_mode_input"] = ss["storage_mode"]
    for key, value in _THRESHOLD_DEFAULTS.items():
        ss.setdefault(key, value)
    if os.environ.get("SEGREGATOR_DEMO_BUCKET") == "1" and _configured_r2() is None:
        _demo_bucket()  # `make run`: the demo bucket is up from the first page, ready for the R2 modes
    with st.sidebar:
        account_sidebar()
        nav()
        st.radio("Storage", ["local", "r2"], key="storage_mode_input", on_change=_keep("storage_mode"), horizontal=True,
                 format_func=lambda m: {"local": "📁 Local folder", "r2": "☁️ R2 bucket"}[m])
        chosen = _r2_sidebar() if ss["storage_mode"] == "r2" else _local_sidebar()
        SIDEBAR_TOP["slot"] = st.container()
        st.divider()
        st.markdown("**Thresholds**")
        # Widgets keep their state per page; the values live in keys of their own and are copied in and out.
        for key in ("t_hamming", "t_pixel", "t_sensitivity", "t_ocr"):
            ss[f"{key}_input"] = ss[key]
        st.slider("Max pHash distance", 0, 32, key="t_hamming_input", on_change=_keep("t_hamming"),
                  help="Distance accepted on its own as a match")
        st.slider("Pixel similarity to confirm", 0.5, 1.0, key="t_pixel_input", step=0.01, on_change=_keep("t_pixel"))
        st.slider("Placeholder sensitivity", 0.0, 1.0, key="t_sensitivity_input", step=0.05,
                  on_change=_keep("t_sensitivity"))
        st.checkbox("OCR for placeholders", key="t_ocr_input", on_change=_keep("t_ocr"), disabled=not tesseract_available(),
                    help=None if tesseract_available() else "Tesseract is not installed: OCR is off")
        st.button("Reset thresholds", on_click=_reset_thresholds)
        st.divider()
        _compute_sidebar()
        st.divider()
        # A callable: read when clicked, so the file includes events of the run that just happened.
        st.download_button("Download session log", session_log().export, file_name="segregator_session_log.json",
                           mime="application/json")
    _remember()
    return chosen


COMPUTE_MODES = {"pool": "💻 This machine", "local": "🧩 Local Dask cluster", "cluster": "🌐 Dask cluster"}


def _compute_sidebar() -> None:
    """Where analysis jobs run: this machine's worker processes, a LocalCluster started here, or the running
    Dask cluster the app was started with (SEGREGATOR_DASK_SCHEDULER). The page takes no other scheduler
    address: the app takes in what a scheduler's workers send back, so a scheduler named in the page or in a
    link could run code on the server (the engine refuses one too: auth.cluster_refusal)."""
    ss = st.session_state
    env_address = os.environ.get("SEGREGATOR_DASK_SCHEDULER", "").strip()
    ss.setdefault("compute_mode", "cluster" if env_address else "pool")
    ss.setdefault("compute_workers", min(default_workers(), auth.MAX_LOCAL_WORKERS))
    for key in ("compute_mode", "compute_workers"):
        ss[f"{key}_input"] = ss[key]
    st.radio("Analysis runs on", list(COMPUTE_MODES), key="compute_mode_input", on_change=_keep("compute_mode"),
             format_func=COMPUTE_MODES.get, help="Moves always run from here (they are server-side copies).")
    if ss["compute_mode"] == "local":
        st.number_input("Worker processes", 1, auth.MAX_LOCAL_WORKERS, key="compute_workers_input",
                        on_change=_keep("compute_workers"))
    elif ss["compute_mode"] == "cluster" and env_address:
        st.caption(f"Scheduler: `{env_address}` (SEGREGATOR_DASK_SCHEDULER). Every worker needs this package "
                   "installed and, for R2, the R2_* variables in its own environment: no key is sent to the cluster.")
    try:
        compute_choice()
    except ValueError as exc:
        st.error(str(exc))


def compute_choice() -> str:
    """The sidebar's choice as a job's `cluster` parameter: 'pool', 'local:N' or a scheduler address.
    ValueError when the address is not one."""
    from ..compute import SCHEDULER_ENV, cluster_spec

    ss = st.session_state
    mode = ss.get("compute_mode", "pool")
    if mode == "local":
        return f"local:{int(ss.get('compute_workers', 2))}"
    if mode == "cluster":
        address = os.environ.get(SCHEDULER_ENV, "").strip()
        if not address:
            raise ValueError("Start the app with SEGREGATOR_DASK_SCHEDULER=tcp://HOST:8786 to run analyses on "
                             "your Dask cluster (the app connects only to the scheduler it was started with; the "
                             "command line takes any --cluster).")
        return cluster_spec(address)
    return "pool"


def mode_label(storage: Storage, local: str, r2: str) -> str:
    return r2 if storage.kind == "r2" else local


def page(title: str, icon: str, caption: str | tuple[str, str]) -> tuple[Storage, str]:
    """The top of every page: config, title, sidebar, and a caption (or (local, R2) captions). Stops the
    page when no source can be used (the sidebar says why)."""
    st.set_page_config(page_title=title, page_icon=icon, layout="wide")
    gate()  # sign-in, role, and no serving beyond this machine without it
    st.session_state["page_url"] = {}  # a page's own URL choices: declared again by the page (keep_in_url)
    st.session_state.pop("input_problem", None)  # said again by the page's inputs (see input_problem)
    st.title(f"{icon} {title}")
    source = sidebar()
    if source is None:
        st.info("Choose a folder or bucket in the sidebar.")
        st.stop()
    storage, prefix = source
    st.caption(mode_label(storage, *caption) if isinstance(caption, tuple) else caption)
    return storage, prefix


def kept(key: str, default) -> dict:
    """A widget's arguments for a value kept in `key` across page switches and runs where the widget is not
    drawn (Streamlit drops a widget's own state then): the widget draws `key`'s value and copies changes back."""
    ss = st.session_state
    ss.setdefault(key, default)
    ss[f"{key}_input"] = ss[key]
    return {"key": f"{key}_input", "on_change": _keep(key)}


def keep_in_url(**params: tuple[str, object]) -> None:
    """A page's own choices kept in its URL beside the sidebar's, as name=(session key, default): a reload (a
    new session) or a shared link gets them back. Call before the page draws those widgets."""
    ss = st.session_state
    start = ss.get("url_at_start", {})
    for name, (key, default) in params.items():
        if f"url_{key}" in ss:
            continue
        ss[f"url_{key}"] = True  # once a session: later the widget's own value stands
        if name in start and key not in ss:
            raw = start[name]
            try:
                ss[key] = _flag(raw) if isinstance(default, bool) else type(default)(raw)
            except ValueError:
                pass  # a value that does not parse: the default stays
    ss["page_url"] = {**ss.get("page_url", {}), **params}  # a page may declare some, and its steps others
    _remember()


def use_folder(storage: Storage, prefix: str) -> None:
    """Make a scanned folder the source of every page (callback of the scanner's buttons)."""
    if storage.kind == "r2":
        st.session_state["source_prefix"] = prefix
    else:
        st.session_state["source_folder"] = str(Path(storage.root) / prefix) if prefix else str(storage.root)
