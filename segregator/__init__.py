"""AI Image Segregator: sort image collections (local folders, Cloudflare R2) by what the images show.

Modules, low to high (each imports only those before it):
settings -> loading -> features -> classify -> learned -> faces -> hashing -> similarity -> placeholders -> storage -> r2
-> analysis -> cache -> plan -> session_log -> journal -> locking -> progress -> s3server -> demo -> jobs
-> cli, and ui (the Streamlit pages' shared pieces).
"""

from .analysis import AnalysisResult, analyse_bytes, analyse_file
from .classify import Classification, classify_features
from .features import Features, extract_features
from .hashing import Fingerprint, PerceptualHash, fingerprint
from .loading import ImageLoadError, LoadedImage, load_image
from .placeholders import PlaceholderResult, detect_placeholder
from .plan import ExecutionReport, ItemResult, MovePlan, PlanItem, execute_plan
from .session_log import SessionLog
from .settings import CATEGORIES, NO_IMAGE, Settings
from .similarity import Reference, SimilarityResult, find_similar
from .storage import LocalStorage, ObjectInfo, Storage

__all__ = [
    "AnalysisResult", "analyse_bytes", "analyse_file", "Classification", "classify_features", "Features",
    "extract_features", "Fingerprint", "PerceptualHash", "fingerprint", "ImageLoadError", "LoadedImage",
    "load_image", "PlaceholderResult", "detect_placeholder", "ExecutionReport", "ItemResult", "MovePlan",
    "PlanItem", "execute_plan", "SessionLog", "CATEGORIES", "NO_IMAGE", "Settings", "Reference",
    "SimilarityResult", "find_similar", "LocalStorage", "ObjectInfo", "Storage",
]
