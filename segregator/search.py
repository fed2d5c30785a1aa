"""Search an analysed collection: by tags ("pizza", "faces: 2", "red, sports car") and by likeness to an image.

Each storage area has a search store beside the analysis cache: one SQLite file (items, their weighted tags, and
a full-text index of the tag words) and one faiss index file of the image model's embeddings. Both are updated
incrementally from analysis results: an unchanged image (same version) costs nothing, a changed one replaces its
entry and vector, and images no longer listed are dropped.

The vector index is exact (inner product over unit float32 vectors) up to EXACT_UP_TO images; past that it is an
inverted-file index of float16 vectors (faiss "IVF,SQfp16"; about 2 * sqrt(n) lists), trained on a
sample when it is built and again when the collection has grown fourfold; a query scans NPROBE of its lists.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .analysis import AnalysisResult

EXACT_UP_TO = 20_000   # vectors searched exactly up to this many
NPROBE = 24            # inverted lists scanned per query (bench/search.py: recall@10 against brute force)
CODE = "QT_fp16"       # how the index stores a vector's numbers: half floats (8-bit codes took recall@10 at 1M to 0.91)
COLOUR_MIN = 0.15      # a hue covering this share of the image is one of its colour tags
# The 12 hue bins of features.hue_hist (30 degrees each, from red) as colour words.
HUE_WORDS = ("red", "orange", "yellow", "green", "green", "green", "cyan", "blue", "blue", "purple", "pink", "red")


@dataclass(frozen=True)
class Hit:
    key: str
    score: float
    tags: tuple[str, ...]
    error: str | None = None
    size: int = 0
    version: str = ""


def tags_of(r: AnalysisResult) -> dict[str, float]:
    """An analysed image's tags with a weight each (0..1), in this order: its category, "placeholder", the image
    model's surest classes, faces, colours, orientation."""
    out: dict[str, float] = {}
    if not r.ok:
        return out
    if r.category:
        out[r.category.lower().replace("_", " ")] = float(r.classification.confidence) if r.classification and \
            r.category != "no_image" else 1.0
    if r.placeholder is not None and r.placeholder.is_placeholder:
        out["placeholder"] = 1.0
    for name, p in r.model_tags:
        out[name.lower()] = max(out.get(name.lower(), 0.0), float(p))
    if r.faces:
        out["face"] = 1.0
        out[f"faces: {len(r.faces)}"] = 1.0
    if r.features is not None:
        hues: dict[str, float] = {}
        for word, share in zip(HUE_WORDS, r.features.hue_hist):
            hues[word] = hues.get(word, 0.0) + share
        for word, share in hues.items():
            if share >= COLOUR_MIN:
                out[word] = min(1.0, share * 2)
        if r.features.saturation < 0.06:
            out["black and white"] = 1.0
    if r.width and r.height:
        ratio = r.width / r.height
        out["square" if 0.95 <= ratio <= 1.05 else "landscape" if ratio > 1 else "portrait"] = 1.0
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    return v / (float(np.linalg.norm(v)) or 1.0)


def store_folder() -> Path:
    from .cache import cache_path

    return cache_path().parent / "search"


class SearchStore:
    """The search store of one storage area (its id as cache.storage_id gives it)."""

    def __init__(self, storage_id: str, folder: Path | None = None):
        folder = folder or store_folder()
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(storage_id.encode()).hexdigest()[:16]
        self.path, self.index_path = folder / f"{name}.sqlite", folder / f"{name}.faiss"
        self.storage_id = storage_id
        self._lock = threading.Lock()
        self._index = None
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, key TEXT UNIQUE, version TEXT, size INTEGER,
                                              category TEXT, faces INTEGER, error TEXT, has_vector INTEGER);
            CREATE TABLE IF NOT EXISTS tags (tag TEXT, id INTEGER, weight REAL, pos INTEGER);
            CREATE INDEX IF NOT EXISTS tags_by_tag ON tags (tag, weight DESC, id);
            CREATE INDEX IF NOT EXISTS tags_by_id ON tags (id);
            CREATE TABLE IF NOT EXISTS vocabulary (tag TEXT PRIMARY KEY, images INTEGER);
            CREATE VIRTUAL TABLE IF NOT EXISTS vocabulary_text USING fts5(tag, tokenize = 'unicode61');
        """)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('storage', ?)", (storage_id,))
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    # -- updating -------------------------------------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, version FROM items"))

    def update(self, results: Iterable[tuple[str, str, AnalysisResult]], listed: set[str] | None = None,
               prefix: str = "") -> dict:
        """Take (key, version, result) triples: new and changed images are (re)entered with their tags and
        vectors, unchanged ones skipped; with `listed` (every key now under `prefix`), the others under `prefix`
        are dropped. Returns counts {"added", "changed", "unchanged", "dropped"}."""
        known = self.versions()
        counts = dict.fromkeys(("added", "changed", "unchanged", "dropped"), 0)
        ids_out: list[int] = []
        vec_ids: list[int] = []
        vectors: list[np.ndarray] = []
        vocab: dict[str, int] = {}
        with self._lock, self.db:
            for key, version, r in results:
                if known.get(key) == version:
                    counts["unchanged"] += 1
                    continue
                if key in known:
                    ids_out += self._remove(key, vocab)
                    counts["changed"] += 1
                else:
                    counts["added"] += 1
                emb = r.embedding if r.ok else None
                cur = self.db.execute("INSERT INTO items (key, version, size, category, faces, error, has_vector) "
                                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                      (key, version, r.size, r.category, len(r.faces),
                                       None if r.ok else (r.error or "skipped"), int(emb is not None)))
                item = cur.lastrowid
                tags = tags_of(r)
                self.db.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)",
                                    [(t, item, w, n) for n, (t, w) in enumerate(tags.items())])
                for t in tags:
                    vocab[t] = vocab.get(t, 0) + 1
                if emb is not None:
                    vec_ids.append(item)
                    vectors.append(_unit(emb))
            if listed is not None:
                for key in {k for k in known if k.startswith(prefix)} - listed:
                    ids_out += self._remove(key, vocab)
                    counts["dropped"] += 1
            self._count_vocabulary(vocab)
        if ids_out or vectors:
            index = self._load_index()
            if ids_out:
                index.remove(np.array(ids_out, dtype=np.int64))
            if vectors:
                index.add(np.stack(vectors), np.array(vec_ids, dtype=np.int64))
            index.save(self.index_path)
        return counts

    def _remove(self, key: str, vocab: dict[str, int]) -> list[int]:
        row = self.db.execute("SELECT id, has_vector FROM items WHERE key = ?", (key,)).fetchone()
        if row is None:
            return []
        item, has_vector = row
        for (t,) in self.db.execute("SELECT tag FROM tags WHERE id = ?", (item,)).fetchall():
            vocab[t] = vocab.get(t, 0) - 1
        self.db.execute("DELETE FROM tags WHERE id = ?", (item,))
        self.db.execute("DELETE FROM items WHERE id = ?", (item,))
        return [item] if has_vector else []

    def _count_vocabulary(self, change: dict[str, int]) -> None:
        for tag, n in change.items():
            if not n:
                continue
            row = self.db.execute("SELECT images FROM vocabulary WHERE tag = ?", (tag,)).fetchone()
            total = (row[0] if row else 0) + n
            if row is None and total > 0:
                self.db.execute("INSERT INTO vocabulary VALUES (?, ?)", (tag, total))
                self.db.execute("INSERT INTO vocabulary_text (tag) VALUES (?)", (tag,))
            elif row is not None and total > 0:
                self.db.execute("UPDATE vocabulary SET images = ? WHERE tag = ?", (total, tag))
            elif row is not None:
                self.db.execute("DELETE FROM vocabulary WHERE tag = ?", (tag,))
                self.db.execute("DELETE FROM vocabulary_text WHERE tag = ?", (tag,))

    def _load_index(self) -> "VectorIndex":
        if self._index is None:
            self._index = VectorIndex.load(self.index_path) if self.index_path.exists() else VectorIndex()
        return self._index

    # -- querying -------------------------------------------------------------------------------------------
    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def suggestions(self, text: str = "", limit: int = 20) -> list[tuple[str, int]]:
        """Tags of the collection whose words start with `text`'s words, most common first: (tag, images)."""
        words = _words(text)
        if not words:
            return list(self.db.execute("SELECT tag, images FROM vocabulary ORDER BY images DESC, tag LIMIT ?", (limit,)))
        match = " ".join(f'"{w}"*' for w in words)
        return list(self.db.execute(
            "SELECT v.tag, v.images FROM vocabulary_text t JOIN vocabulary v ON v.tag = t.tag "
            "WHERE vocabulary_text MATCH ? ORDER BY v.images DESC, v.tag LIMIT ?", (match, limit)))

    def matching_tags(self, term: str) -> list[str]:
        """The collection's tags that hold every word of `term` (each word as a prefix: "retr" finds
        "golden retriever")."""
        words = _words(term)
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        return [t for (t,) in self.db.execute("SELECT tag FROM vocabulary_text WHERE vocabulary_text MATCH ?", (match,))]

    def by_tags(self, query: str, category: str | None = None, faces: bool = False, limit: int | None = 100,
                offset: int = 0) -> list[Hit]:
        """Images with a tag matching every comma-separated term of `query`, optionally only those of one category
        or with faces (filters), best first: an image's score is the product, over the terms, of its best matching
        tag's weight (with no terms: its category's confidence, or 1 for faces alone)."""
        terms = [t for t in (part.strip() for part in query.split(",")) if t]
        tag_sets = [self.matching_tags(t) for t in terms]
        cat = category.strip() if category else None
        if not tag_sets and cat:
            tag_sets, cat = [[cat.lower().replace("_", " ")]], None  # the category's own tag, by confidence
        elif not tag_sets and faces:
            tag_sets = [["face"]]
        if not tag_sets or any(not s for s in tag_sets):
            return []
        # One term's postings in falling weight, a page at a time; each page's images are checked against the
        # filters (the items table) and looked up in the other terms. A later image scores at most the current
        # weight (the others' weights are <= 1), so the scan stops once `offset + limit` images score at least
        # that. The term read is the rarest of those whose weights vary (a class, a colour): with equal weights
        # (orientation) every image scores 1 and the first hits are as good as any.
        order = sorted(range(len(tag_sets)), key=lambda i: (not self._graded(tag_sets[i]), self._postings(tag_sets[i])))
        first, rest = tag_sets[order[0]], [tag_sets[i] for i in order[1:]]
        filters, filter_args = [], []
        if cat:
            filters.append("category = ? COLLATE NOCASE")
            filter_args.append(cat)
        if faces:
            filters.append("faces > 0")
        want = None if limit is None else offset + limit
        cur = self.db.execute(f"SELECT id, weight FROM tags WHERE tag IN ({','.join('?' * len(first))}) "
                              "ORDER BY weight DESC", first)
        seen: set[int] = set()
        scores: dict[int, float] = {}
        while rows := cur.fetchmany(2000):
            page = {}
            for item, weight in rows:
                if item not in seen:  # a term matching several tags: its best weight comes first
                    seen.add(item)
                    page[item] = weight
            if filters and page:
                kept = {i for (i,) in self.db.execute(
                    f"SELECT id FROM items WHERE id IN ({','.join('?' * len(page))}) AND " + " AND ".join(filters),
                    [*page, *filter_args])}
                page = {i: w for i, w in page.items() if i in kept}
            for tags in rest:
                if not page:
                    break
                found = dict(self.db.execute(  # by image (the tag's own index would read all its images)
                    f"SELECT id, MAX(weight) FROM tags INDEXED BY tags_by_id WHERE tag IN ({','.join('?' * len(tags))}) "
                    f"AND id IN ({','.join('?' * len(page))}) GROUP BY id", [*tags, *page]).fetchall())
                page = {i: page[i] * w for i, w in found.items()}
            scores.update(page)
            if want is not None and len(scores) >= want and sorted(scores.values(), reverse=True)[want - 1] >= rows[-1][1]:
                break
        cur.close()
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return self._hits(ranked[offset: None if limit is None else offset + limit])

    def _graded(self, tags: list[str]) -> bool:
        """Whether the tags' weights vary (the ends of each tag's range, read from its index)."""
        ends = [w for t in tags for order in ("DESC", "ASC")
                for (w,) in self.db.execute(f"SELECT weight FROM tags WHERE tag = ? ORDER BY weight {order} LIMIT 1", (t,))]
        return bool(ends) and max(ends) - min(ends) > 0.05

    def _postings(self, tags: list[str]) -> int:
        return sum(n for (n,) in self.db.execute(
            f"SELECT images FROM vocabulary WHERE tag IN ({','.join('?' * len(tags))})", tags))

    def like(self, embedding: np.ndarray, top: int = 10, exclude_key: str | None = None) -> list[Hit]:
        """The `top` images whose embeddings are most like `embedding` (cosine similarity as the score)."""
        index = self._load_index()
        if not index.size:
            return []
        sims, ids = index.search(_unit(embedding)[None], top + 1)
        page = [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0]
        hits = self._hits(page)
        return [h for h in hits if h.key != exclude_key][:top]

    def _hits(self, page: Sequence[tuple[int, float]]) -> list[Hit]:
        if not page:
            return []
        ids = [i for i, _ in page]
        rows = {}
        for s in range(0, len(ids), 900):
            chunk = ids[s:s + 900]
            for item, key, error, size, version in self.db.execute(
                    f"SELECT id, key, error, size, version FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                rows[item] = (key, error, [], size or 0, version or "")
            for item, tag in self.db.execute(
                    f"SELECT id, tag FROM tags WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY pos", chunk):
                rows[item][2].append(tag)
        return [Hit(rows[i][0], round(score, 4), tuple(rows[i][2]), rows[i][1], rows[i][3], rows[i][4])
                for i, score in page if i in rows]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class VectorIndex:
    """Unit vectors with integer ids, searched by inner product: exact up to EXACT_UP_TO, then IVF of float16."""

    def __init__(self, index=None, trained_at: int = 0):
        import faiss

        self.faiss = faiss
        self.index = index
        self.trained_at = trained_at  # how many vectors the inverted lists were trained at (0: exact)

    @property
    def size(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        import faiss

        index = faiss.read_index(str(path))
        trained = int(index.nlist ** 2 / 4) if hasattr(index, "nlist") else 0  # nlist = 2 * sqrt(trained)
        return cls(index, trained)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        self.faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index is None:
            self.index = self.faiss.IndexIDMap2(self.faiss.IndexFlatIP(vectors.shape[1]))
        self.index.add_with_ids(vectors, ids)
        total = self.size
        if total > EXACT_UP_TO and (self.trained_at == 0 or total >= 4 * self.trained_at):
            self._rebuild()

    def remove(self, ids: np.ndarray) -> None:
        if self.index is not None and len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(self.index, "nprobe"):
            self.index.nprobe = NPROBE
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def _parts(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The current vectors and their ids, a part at a time (an inverted list, or the exact store)."""
        faiss = self.faiss
        if isinstance(self.index, faiss.IndexIDMap2):
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            flat = faiss.downcast_index(self.index.index)
            yield faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d).copy(), ids
            return
        invlists = self.index.invlists
        for lst in range(self.index.nlist):
            n = invlists.list_size(lst)
            if n:
                codes = faiss.rev_swig_ptr(invlists.get_codes(lst), n * invlists.code_size).copy()
                yield (self.index.sq.decode(codes.reshape(n, invlists.code_size)),
                       faiss.rev_swig_ptr(invlists.get_ids(lst), n).astype(np.int64))

    def _rebuild(self) -> None:
        """Inverted lists for the current vectors: about 2 * sqrt(n) of them, trained (10 rounds of k-means) on
        a sample of 40 vectors per list; the vectors then move over a list at a time (flat memory)."""
        faiss = self.faiss
        n, d = self.size, self.index.d
        nlist = int(2 * np.sqrt(n))
        rng = np.random.default_rng(0)
        keep = min(1.0, 40 * nlist / n)
        sample = np.concatenate([v[rng.random(len(v)) < keep] for v, _ in self._parts()])
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, getattr(faiss.ScalarQuantizer, CODE),
                                              faiss.METRIC_INNER_PRODUCT)
        index.by_residual = False  # codes of the vectors themselves: a list decodes without its centroid
        index.cp.niter = 10
        index.train(sample)
        for vectors, ids in self._parts():
            index.add_with_ids(vectors, ids)
        quantizer.this.disown()  # the index owns its quantizer from here
        index.own_fields = True
        self.index, self.trained_at = index, n
