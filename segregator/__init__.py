"""AI Image Segregator: sort image collections (local folders, Cloudflare R2) by what the images show.

Modules, low to high (each imports only those before it):
settings -> loading -> features -> classify -> learned -> faces -> hashing -> similarity -> placeholders -> storage -> r2
-> analysis -> cache -> session_log -> plan -> journal -> locking -> faults -> executor -> runs -> progress
-> s3server -> demo -> jobs (a package: sources -> analyse -> common -> classify, reference, placeholders,
teach) -> cli, and ui (the Streamlit pages' shared pieces).
Names below are imported when first used, so that `python -m segregator resume` does not load the image code.
"""

import importlib

_EXPORTS = {
    "AnalysisResult": "analysis", "analyse_bytes": "analysis", "analyse_file": "analysis",
    "Classification": "classify", "classify_features": "classify", "Features": "features",
    "extract_features": "features", "Fingerprint": "hashing", "PerceptualHash": "hashing", "fingerprint": "hashing",
    "ImageLoadError": "loading", "LoadedImage": "loading", "load_image": "loading",
    "PlaceholderResult": "placeholders", "detect_placeholder": "placeholders",
    "ExecutionReport": "executor", "ItemResult": "executor", "MovePlan": "plan", "PlanItem": "plan",
    "run_plan": "runs", "SessionLog": "session_log", "CATEGORIES": "settings", "NO_IMAGE": "settings",
    "Settings": "settings", "Reference": "similarity", "SimilarityResult": "similarity", "find_similar": "similarity",
    "LocalStorage": "storage", "ObjectInfo": "storage", "Storage": "storage",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'segregator' has no attribute {name!r}")
