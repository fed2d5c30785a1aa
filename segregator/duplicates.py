"""Duplicates across a collection, in three nested tiers:

- exact: the same bytes (SHA-256 of the file, read while it is analysed);
- near: resized, recompressed, brightened, lightly cropped, watermarked or mirrored copies: candidates from
  64-bit perceptual hashes of the grey thumbnail and of its mirror image (multi-index hashing, no N x N
  matrix), each confirmed by the pixel check (correlation of the thumbnails, border crops and mirror tried);
- similar: re-framed and cropped copies: cosine similarity of the image model's embeddings (optional).

Grouping: candidate pairs that pass their check link images into connected sets; in each set the keeper is
chosen by the user's ordered rules, and a member joins only when it matches the keeper itself (so a chain
A ~ B ~ C never pulls in a C unlike A); the rest of the set is grouped again the same way. Same input, same
groups in the same order: images are taken in key order and every tie is broken by key.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np


TIERS = ("exact", "near", "similar")
DEFAULT_KEEP = ("resolution", "size", "path")
KEEP_HELP = ("resolution (largest first), size (largest file), path (shortest), oldest, newest, "
             "format:EXT (that format first), folder:PREFIX (images under it first)")


@dataclass(frozen=True)
class DuplicateSettings:
    tier: str = "near"                    # the loosest tier used: exact, near (exact + near), similar (all three)
    max_hamming: int = 8                  # near candidates: pHashes within this many bits
    variant_hamming: int = 5              # ... and one's mirror-image or centre-crop pHash against the other's
    region_hamming: int = 8               # ... or their upper_hashes (the top 70 %) within this many bits
    min_pixel_similarity: float = 0.93    # near: the pixel check that confirms a candidate
    min_embedding_similarity: float = 0.80  # similar: cosine of the embeddings (bench.accuracy: P 0.998, R 0.92)
    min_trimmed_similarity: float = 0.96  # near, for copies with a local edit: correlation of the best-agreeing 80 %
    keep: tuple[str, ...] = DEFAULT_KEEP  # ordered keeper rules
    reference_folders: tuple[str, ...] = ()  # images under these are always kept, never moved

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r} (choose exact, near or similar)")
        for rule in self.keep:
            check_rule(rule)


def check_rule(rule: str) -> str:
    name, _, arg = rule.partition(":")
    if name in ("resolution", "size", "path", "oldest", "newest") and not arg:
        return rule
    if name in ("format", "folder") and arg:
        return rule
    raise ValueError(f"unknown keep rule {rule!r}: use {KEEP_HELP}")


def parse_keep(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """"resolution,size,path" (or a list) -> the rules, checked; empty -> the defaults."""
    if not text:
        return DEFAULT_KEEP
    parts = text.split(",") if isinstance(text, str) else list(text)
    return tuple(check_rule(p.strip()) for p in parts if p.strip())


# ------------------------------------------------------------------ what grouping reads of each image

@dataclass
class Collection:
    """Columns of what grouping reads, one row per analysed image (in key order). The thumbnails may be a
    memory map on disk (collect()), so a million images keep only their hashes and sizes in memory."""

    keys: list[str]
    size: np.ndarray          # int64 bytes
    pixels: np.ndarray        # int64 width * height
    mtime: np.ndarray         # float64 seconds (LastModified on buckets)
    formats: list[str]
    digest: np.ndarray        # (n, 32) uint8 SHA-256; all zero where unknown
    hashes: np.ndarray        # uint64 pHash
    mirrored: np.ndarray      # uint64 pHash of the mirror image
    cropped: np.ndarray       # uint64 pHash of the centre 90 %
    thumbs: np.ndarray        # (n, S, S) uint8 grey thumbnails
    embeddings: np.ndarray | None = None  # (n, d) float16 unit vectors (zeros: none), for the similar tier
    width: np.ndarray | None = None       # int32 pixels (what the page shows of each copy)
    height: np.ndarray | None = None
    upper: np.ndarray | None = None       # uint64 pHash of the thumbnail's top 70 % (upper_hashes)
    upper_mirror: np.ndarray | None = None  # ... of its mirror image
    hue: np.ndarray | None = None         # (n, 12) float32: the share of saturated pixels in each hue (features)
    saturation: np.ndarray | None = None  # float32 mean saturation (0: a grey image, or none measured)
    tone: np.ndarray | None = None        # float32 mean grey level of each thumbnail
    spread: np.ndarray | None = None      # float32 standard deviation of its grey levels (blank: below BLANK_SPREAD)

    def __post_init__(self):
        if self.upper is None:
            self.upper = upper_hashes(self.thumbs)
        if self.tone is None or self.spread is None:  # a block at a time (the thumbnails may be on disk)
            n = len(self.keys)
            parts = [grey_levels(np.asarray(self.thumbs[np.arange(s, min(n, s + 65536))])) for s in range(0, n, 65536)]
            self.tone, self.spread = (np.concatenate(c) if parts else np.zeros(0, np.float32) for c in zip(*parts))
        if self.hue is None:
            self.hue = np.zeros((len(self.keys), HUE_BINS), dtype=np.float32)
        if self.saturation is None:
            self.saturation = np.zeros(len(self.keys), dtype=np.float32)
        if self.upper_mirror is None:
            self.upper_mirror = upper_hashes(self.thumbs, mirror=True) if len(self.upper) else self.upper.copy()

    def __len__(self) -> int:
        return len(self.keys)


def collect(results: Iterable, spill: str | None = None,
            thumb_size: int = 48, embeddings: bool = False) -> tuple[Collection, list]:
    """A Collection from analysis results (the images that could be analysed, in the order given), and the
    results that could not (their errors). With `spill` (a file path), thumbnails go to a file there as they
    come (read back a row at a time), not to memory."""
    keys, size, width, height, mtime, formats, digest, hashes, mirrored, cropped, embs, upper, upper_mirror = ([] for _ in range(13))
    hues, sats, tones, spreads = [], [], [], []
    failed = []
    thumbs_file = open(spill, "wb") if spill else None
    thumbs_mem: list[np.ndarray] = []
    batch: list[np.ndarray] = []

    def flush() -> None:  # the thumbnails of a batch: their upper hashes, then to the file or memory
        if not batch:
            return
        block = np.stack(batch)
        tone, spread = grey_levels(block)
        tones.append(tone)
        spreads.append(spread)
        upper.extend(upper_hashes(block).tolist())
        upper_mirror.extend(upper_hashes(block, mirror=True).tolist())
        if thumbs_file:
            thumbs_file.write(block.tobytes())
        else:
            thumbs_mem.append(block)
        batch.clear()

    try:
        for r in results:
            if not r.ok or r.fingerprint is None:
                if not r.skipped:
                    failed.append(r)
                continue
            fp = r.fingerprint
            keys.append(r.key)
            size.append(r.size)
            width.append(r.width)
            height.append(r.height)
            mtime.append(r.mtime)
            formats.append(r.format or posixpath.splitext(r.key)[1].lstrip(".").upper())
            digest.append(bytes.fromhex(r.digest) if len(r.digest) == 64 else bytes(32))
            f = r.features
            hue = np.asarray(f.hue_hist, dtype=np.float32) if f is not None and len(f.hue_hist) == HUE_BINS else np.zeros(HUE_BINS, np.float32)
            hues.append(hue / hue.sum() if hue.sum() >= HUE_KNOWN else np.zeros(HUE_BINS, np.float32))
            sats.append(f.saturation if f is not None else 0.0)
            hashes.append(fp.phash.value)
            mirrored.append(fp.mirror)
            cropped.append(fp.crop)
            thumb = np.asarray(fp.thumb, dtype=np.uint8)
            if thumb.shape != (thumb_size, thumb_size):
                from PIL import Image

                thumb = np.asarray(Image.fromarray(thumb).resize((thumb_size, thumb_size)), dtype=np.uint8)
            batch.append(thumb)
            if len(batch) == 4096:
                flush()
            if embeddings:
                e = r.embedding
                if e is None:
                    embs.append(None)
                else:
                    e = np.asarray(e, dtype=np.float32)
                    embs.append((e / (np.linalg.norm(e) or 1.0)).astype(np.float16))
        flush()
    finally:
        if thumbs_file:
            thumbs_file.close()
    n = len(keys)
    if spill and n:
        thumbs = open_thumbs(spill, n, thumb_size)
    else:
        thumbs = np.concatenate(thumbs_mem) if thumbs_mem else np.zeros((0, thumb_size, thumb_size), dtype=np.uint8)
    emb = None
    if embeddings and any(e is not None for e in embs):
        dim = next(len(e) for e in embs if e is not None)
        emb = np.zeros((n, dim), dtype=np.float16)
        for i, e in enumerate(embs):
            if e is not None:
                emb[i] = e
    w, h = np.array(width, dtype=np.int32), np.array(height, dtype=np.int32)
    coll = Collection(keys, np.array(size, dtype=np.int64), w.astype(np.int64) * h,
                      np.array(mtime, dtype=np.float64), formats,
                      np.frombuffer(b"".join(digest), dtype=np.uint8).reshape(n, 32).copy() if n else np.zeros((0, 32), np.uint8),
                      np.array(hashes, dtype=np.uint64), np.array(mirrored, dtype=np.uint64),
                      np.array(cropped, dtype=np.uint64), thumbs, emb, w, h, np.array(upper, dtype=np.uint64),
                      np.array(upper_mirror, dtype=np.uint64),
                      np.array(hues, dtype=np.float32).reshape(n, HUE_BINS), np.array(sats, dtype=np.float32),
                      np.concatenate(tones) if tones else np.zeros(0, np.float32),
                      np.concatenate(spreads) if spreads else np.zeros(0, np.float32))
    return coll, failed


HUE_BINS = 12
HUE_EMD = 1.0     # near: two colourful images whose hues lie further apart than a shift of all of them by one bin
COLOURFUL = 0.1   # (30 degrees) are not copies of each other; colourful: mean saturation above this
HUE_KNOWN = 0.02  # an image's hues are known when at least this share of its pixels show one (a dark photo has
                  # none: its brightened copy's few hued pixels say nothing of a colour change)
BLANK_SPREAD = 1.5  # a thumbnail whose grey levels vary less than this (std) is blank: its pixels hold only noise,
BLANK_TONE = 1 / 3  # so its colour decides: two blanks are copies when their grey levels lie within this share of
                    # the brighter, plus 3 levels (two copies of one original, one brightened by 20 % and one
                    # darkened by 20 %, lie 0.8 / 1.2 apart), their saturations within BLANK_SATURATION, and where
BLANK_SATURATION = 0.2  # both are colourful, their hues within HUE_EMD


def grey_levels(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each grey thumbnail's levels (float32 each)."""
    x = np.asarray(thumbs).reshape(len(thumbs), -1)
    if not x.shape[1]:
        return np.zeros(len(x), np.float32), np.zeros(len(x), np.float32)
    mean = x.mean(axis=1, dtype=np.float64)
    wide = x.astype(np.int32)  # a sum of squares of 8-bit levels over 48 x 48 fits (5 times as fast as float std)
    square = np.einsum("ij,ij->i", wide, wide) / x.shape[1]
    return mean.astype(np.float32), np.sqrt(np.maximum(square - mean * mean, 0)).astype(np.float32)


def blank_alike(coll: "Collection", a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For paired images: both blank and of one colour, up to the near tier's brightness and contrast edits."""
    ta, tb = coll.tone[a], coll.tone[b]
    return ((coll.spread[a] < BLANK_SPREAD) & (coll.spread[b] < BLANK_SPREAD)
            & (np.abs(ta - tb) <= BLANK_TONE * np.maximum(ta, tb) + 3)
            & (np.abs(coll.saturation[a] - coll.saturation[b]) <= BLANK_SATURATION)
            & ~hues_apart(coll, a, b))


def hues_apart(coll: "Collection", a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For paired images: both colourful, both showing hues, and those hues further apart than HUE_EMD."""
    colourful = ((np.minimum(coll.saturation[a], coll.saturation[b]) > COLOURFUL)
                 & coll.hue[a].any(axis=1) & coll.hue[b].any(axis=1))
    return colourful & (hue_distance(coll.hue[a], coll.hue[b]) > HUE_EMD)


def blank_pairs(coll: "Collection") -> np.ndarray:
    """Candidate pairs among blank images (whose hashes are noise): in order of grey or main hue, then grey
    level, each blank is paired with the next when the two are alike (a chain: linear in the blanks)."""
    blank = np.nonzero(coll.spread < BLANK_SPREAD)[0]
    if len(blank) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    hue = np.where(coll.hue[blank].any(axis=1) & (coll.saturation[blank] > COLOURFUL), coll.hue[blank].argmax(axis=1), -1)
    order = blank[np.lexsort((blank, coll.tone[blank], hue))]
    a, b = order[:-1], order[1:]
    ok = blank_alike(coll, a, b)
    return np.sort(np.stack([a[ok], b[ok]], axis=1), axis=1)


def hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Earth mover's distance between paired hue histograms on the colour circle, in bins."""
    c = np.cumsum(a - b, axis=1)
    return np.abs(c - np.median(c, axis=1, keepdims=True)).sum(axis=1)


UPPER = 0.7  # the share of the thumbnail, from the top, that upper_hashes reads


def _dct_rows(n: int, k: int = 8) -> np.ndarray:
    """The first k DCT-II basis rows of length n."""
    x = np.arange(n)
    return np.cos(np.pi * (2 * x[None, :] + 1) * np.arange(k)[:, None] / (2 * n))


def upper_hashes(thumbs, mirror: bool = False) -> np.ndarray:
    """A 64-bit pHash of each grey thumbnail's top 70 %: the 63 lowest DCT coefficients (no DC) against
    their median, the last bit 0. A caption, a watermark or a logo along the bottom, where listing photos
    carry them, changes the whole-image pHash by 10-16 bits but leaves this one as it was; a candidate
    search on it finds such copies (made from the cached thumbnail: no image is decoded again)."""
    n = len(thumbs)
    if not n:
        return np.zeros(0, dtype=np.uint64)
    size = thumbs.shape[1]
    rows = round(size * UPPER)
    ch, cw = _dct_rows(rows).astype(np.float32), _dct_rows(size).astype(np.float32)
    out = np.empty(n, dtype=np.uint64)
    for s in range(0, n, 65536):
        t = np.asarray(thumbs[s:s + 65536], dtype=np.float32)[:, :rows, ::-1 if mirror else 1]
        d = np.einsum("ir,nrc,jc->nij", ch, t, cw, optimize=True).reshape(len(t), 64)[:, 1:]
        bits = np.concatenate([d > np.median(d, axis=1, keepdims=True), np.zeros((len(t), 1), bool)], axis=1)
        out[s:s + len(t)] = np.packbits(bits, axis=1).view(">u8").ravel()
    return out


class ThumbFile:
    """Spilled thumbnails read back a row at a time (pread): a group's members lie anywhere in the file, and a
    memory map would bring whole neighbourhoods of it into the process (the kernel maps pages around each
    fault), so the resident size would grow with the file."""

    def __init__(self, path: str, count: int, size: int = 48):
        import os

        self._fd = os.open(path, os.O_RDONLY)
        self.shape = (count, size, size)
        self._row = size * size

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        import os

        idx = np.asarray(index, dtype=np.int64)
        flat = idx.reshape(-1)
        out = np.empty((len(flat), self.shape[1], self.shape[2]), dtype=np.uint8)
        for k, i in enumerate(flat.tolist()):
            out[k] = np.frombuffer(os.pread(self._fd, self._row, i * self._row), dtype=np.uint8).reshape(self.shape[1:])
        return out[0] if idx.ndim == 0 else out.reshape(idx.shape + self.shape[1:])

    def close(self) -> None:
        import os

        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_thumbs(path: str, count: int, size: int = 48) -> ThumbFile:
    return ThumbFile(path, count, size)


def _resize_matrix(src: int, dst: int) -> np.ndarray:
    """dst x src: box-average resampling (each output pixel the mean of the input pixels it covers)."""
    m = np.zeros((dst, src))
    for i in range(dst):
        a, b = i * src / dst, (i + 1) * src / dst
        for j in range(int(a), min(src, int(np.ceil(b)))):
            m[i, j] = min(b, j + 1) - max(a, j)
    return m / m.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ candidate pairs

def _pieces(bits: int, count: int) -> list[tuple[int, int]]:
    sizes = [bits // count + (1 if i < bits % count else 0) for i in range(count)]
    out, shift = [], 0
    for s in sizes:
        out.append((shift, s))
        shift += s
    return out


def _flip_masks(bits: int, radius: int) -> np.ndarray:
    """Every mask of at most `radius` set bits among `bits`."""
    from itertools import combinations

    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in c) for c in combinations(range(bits), r)]
    return np.array(masks, dtype=np.uint64)


def hash_pairs(a: np.ndarray, b: np.ndarray | None = None, max_distance: int = 10, pieces: int | None = None) -> np.ndarray:
    """Pairs (i, j) with popcount(a[i] ^ b[j]) <= max_distance (b = a: i < j only), as an (m, 2) array sorted,
    in flat memory: the hashes are cut into `pieces` pieces; two hashes within max_distance differ in at most
    max_distance // pieces bits of at least one piece (pigeonhole), so each piece of a is looked up with every
    flip of that many bits in a dense table of b's pieces (counting sort: no N x N anything; _mih's loop)."""
    from ._mih import hash_pairs_compiled

    a = np.asarray(a, dtype=np.uint64)
    same = b is None
    b = a if same else np.asarray(b, dtype=np.uint64)
    if not len(a) or not len(b):
        return np.zeros((0, 2), dtype=np.int64)
    if pieces is None:  # about a quarter of a table entry per image, at most 2^22 entries a piece (at 1M: 3 pieces,
        # twice as fast as 4: fewer buckets to probe outweigh the flips of one more bit)
        pieces = max(2, min(max_distance + 1, int(np.ceil(64 / min(22, max(8, np.log2(len(b)) + 2))))))
    return hash_pairs_compiled(a, b, same, max_distance, _pieces(64, pieces), _flip_masks)


def near_candidates(coll: Collection, max_distance: int, variant_distance: int | None = None,
                    region_distance: int | None = None) -> np.ndarray:
    """Pairs whose pHashes are within max_distance as they are, or within variant_distance with one of them
    mirrored or one's centre 90 % against the other (a copy cut at the border), or whose upper_hashes are
    within region_distance (a copy marked along the bottom)."""
    variant_distance = max_distance if variant_distance is None else variant_distance
    # Images whose four hashes are all equal (blank frames, byte or pixel copies) are searched once: the others
    # of each such set are linked to its first (a star, not every pair: 2,000 white frames would be 2 million)
    with np.errstate(over="ignore"):
        mix = (coll.hashes ^ (coll.mirrored * np.uint64(0x9E3779B97F4A7C15)) ^ (coll.cropped * np.uint64(0xC2B2AE3D27D4EB4F))
               ^ (coll.upper * np.uint64(0x165667B19E3779F9)))
    _, first, inverse = np.unique(mix, return_index=True, return_inverse=True)
    reps = np.sort(first)
    rep_of = first[inverse.ravel()]
    star = np.nonzero(rep_of != np.arange(len(mix)))[0]
    found = [np.stack([rep_of[star], star], axis=1)]
    hashes, mirrored, cropped = coll.hashes[reps], coll.mirrored[reps], coll.cropped[reps]
    found.append(reps[hash_pairs(hashes, None, max_distance)])
    if region_distance is not None:
        found.append(reps[hash_pairs(coll.upper[reps], None, region_distance)])
    for other in (mirrored, cropped):
        pairs = np.sort(hash_pairs(hashes, other, variant_distance), axis=1)
        found.append(reps[pairs[pairs[:, 0] != pairs[:, 1]]])
    found.append(blank_pairs(coll))
    both = np.sort(np.concatenate(found), axis=1)
    return np.unique(both, axis=0) if len(both) else both


def exact_pairs(coll: Collection) -> np.ndarray:
    """Consecutive members of each set of identical digests (a chain is enough to connect them)."""
    known = coll.digest.any(axis=1)
    idx = np.nonzero(known)[0]
    if len(idx) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    view = np.ascontiguousarray(coll.digest[idx]).view(np.dtype((np.void, 32))).ravel()
    order = np.argsort(view, kind="stable")
    sv = view[order]
    same = np.nonzero(sv[1:] == sv[:-1])[0]
    return np.stack([idx[order[same]], idx[order[same + 1]]], axis=1)


EXACT_UP_TO = 20_000  # embeddings compared all-pairs (in blocks) up to this many; an index above it
ANN_DIMS = 128        # the index's vectors: the embeddings projected on their 128 main directions
ANN_SLACK = 0.02      # candidates down to this much below the threshold in the index (the projection drops the
                      # residual parts, which mostly raises a cosine: +0.03 to +0.09 on bench/duplicates.py's copies)


def similar_candidates(coll: Collection, min_similarity: float, neighbours: int = 8) -> np.ndarray:
    """Pairs whose embeddings' cosine reaches min_similarity. Up to EXACT_UP_TO images: every pair, in
    blocks. Above: an approximate nearest-neighbour index (faiss HNSW, inner product) over the embeddings
    projected on the 128 main directions of a 20,000-image sample (an uncentred SVD, so that cosines keep
    their scale); each image's `neighbours` nearest within min_similarity - ANN_SLACK are candidates, and a
    candidate counts only when the full float16 vectors' cosine reaches min_similarity."""
    e = coll.embeddings
    if e is None or len(e) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    have = np.nonzero(np.concatenate([(e[s:s + 8192] != 0).any(axis=1) for s in range(0, len(e), 8192)]))[0]
    found: list[np.ndarray] = []
    if len(have) <= EXACT_UP_TO:
        block = 2048
        m = e[have].astype(np.float32)
        for s in range(0, len(have), block):
            sims = m[s:s + block] @ m.T
            ii, jj = np.nonzero(sims >= min_similarity)
            ii = ii + s
            keep = ii < jj
            found.append(np.stack([have[ii[keep]], have[jj[keep]]], axis=1))
    else:
        found.append(_ann_pairs(e, have, min_similarity, neighbours))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def _ann_pairs(e: np.ndarray, have: np.ndarray, min_similarity: float, neighbours: int) -> np.ndarray:
    import faiss

    rng = np.random.default_rng(0)  # the same sample, so the same groups, for the same input
    sample = e[np.sort(rng.choice(have, min(len(have), EXACT_UP_TO), replace=False))].astype(np.float32)
    _, vectors = np.linalg.eigh(sample.T @ sample)  # the main directions (an uncentred PCA; eigh of d x d is quick)
    basis = np.ascontiguousarray(vectors[:, ::-1][:, :ANN_DIMS])  # d x 128, strongest first
    step = 65536

    def reduced(s: int) -> np.ndarray:  # images s .. s + step, projected and normalised (8192 at a time: memory
        part = np.concatenate([e[have[t:t + 8192]].astype(np.float32) @ basis  # beyond the index stays small)
                               for t in range(s, min(s + step, len(have)), 8192)])
        faiss.normalize_L2(part)
        return part

    index = faiss.IndexHNSWFlat(basis.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    for s in range(0, len(have), step):
        index.add(reduced(s))
    index.hnsw.efSearch = 32
    out = []
    for s in range(0, len(have), step):
        sims, nn = index.search(reduced(s), neighbours + 1)
        rows = np.repeat(np.arange(s, s + len(nn)), nn.shape[1]).reshape(nn.shape)
        ok = (sims >= min_similarity - ANN_SLACK) & (nn != rows) & (nn >= 0)  # either may list the other
        a, b = np.minimum(rows[ok], nn[ok]), np.maximum(rows[ok], nn[ok])
        for c in range(0, len(a), 4096):  # the full vectors' cosine, a slice at a time (flat memory)
            ca, cb = have[a[c:c + 4096]], have[b[c:c + 4096]]
            full = np.einsum("nd,nd->n", e[ca].astype(np.float32), e[cb].astype(np.float32))
            out.append(np.stack([ca[full >= min_similarity], cb[full >= min_similarity]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


# ------------------------------------------------------------------ checks between two images

CROPS = (0.0, 0.025, 0.05, 0.075)
BORDER_PAIRINGS = tuple(p for c in range(1, len(CROPS)) for p in ((c, 0), (0, c)))  # (crop of a, crop of b): either cut
TRIM_KEEP_SPREAD = 6.0  # trimmed_pairs: the agreeing pixels vary by at least this many grey levels (std)
TOP_VARIANCE = 0.3  # compare: the top 70 % holds at least this share of each thumbnail's variance (not a blank sky)
MAYBE_PIXEL = 0.7  # compare: below the pixel check but this alike, the trimmed check (a local edit) decides
UNSURE_FLIP = 8  # compare: mirror and direct pHash distances this close leave the orientation open
CROP_FLOOR = 0.3  # a plain correlation below this, of pHashes not close: the border crops are not tried


def _unit_crops(thumbs: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Unit rows (less their mean, over their norm) of each thumbnail and its centre crops (CROPS) resized back
    to S x S, their first `rows` rows (all by default): N x C x rows*S (compiled: _pixels.crop_units)."""
    from ._pixels import crop_units

    return crop_units(thumbs, CROPS, _resize_matrix, rows)[0]


def _distinct(ids: np.ndarray | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the given rows: (the rows, one per distinct image, each row's place among those): what is derived
    of an image (its crops, their unit rows) is made once however many pairs it is in (a keeper is in all its
    members' pairs; ids None: every row its own image)."""
    rows = np.asarray(rows)
    if ids is None:
        return rows, np.arange(len(rows))
    _, first, place = np.unique(np.asarray(ids)[rows], return_index=True, return_inverse=True)
    return rows[first], place.ravel()


def _top_share(thumbs: np.ndarray, rows: int) -> np.ndarray:
    """The share of each thumbnail's variance (about its whole mean) in its top `rows` rows."""
    x = thumbs.astype(np.float32)
    d = (x - x.mean(axis=(1, 2), keepdims=True)) ** 2
    return d[:, :rows].sum(axis=(1, 2)) / np.maximum(d.sum(axis=(1, 2)), 1e-6)


def _top_similarity(kept: np.ndarray, seen: np.ndarray, ids_kept=None, ids_seen=None) -> np.ndarray:
    """Correlation of paired thumbnails over their top 70 % (border crops tried, either one); 0 where a top
    is all but blank or holds too little of its picture (a blank's noise, a sky, correlate by chance).
    ids: which image each row is (its crops made once)."""
    rows = round(kept.shape[1] * UPPER)
    textured = ((kept[:, :rows].reshape(len(kept), -1).std(axis=1) >= 2) & (seen[:, :rows].reshape(len(seen), -1).std(axis=1) >= 2)
                & (_top_share(kept, rows) >= TOP_VARIANCE) & (_top_share(seen, rows) >= TOP_VARIANCE))
    out = np.zeros(len(kept))
    look = np.nonzero(textured)[0]
    if len(look):  # crops only of the tops that can count
        (fk, ik), (fs, is_) = _distinct(ids_kept, look), _distinct(ids_seen, look)
        ua, ub = _unit_crops(kept[fk], rows)[ik], _unit_crops(seen[fs], rows)[is_]
        out[look] = np.maximum(np.einsum("nd,ncd->nc", ua[:, 0], ub).max(axis=1), np.einsum("ncd,nd->nc", ua, ub[:, 0]).max(axis=1))
    return out


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.reshape(*x.shape[:-2], -1).astype(np.float32)
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def pixel_pairs(thumbs_a: np.ndarray, thumbs_b: np.ndarray, mirrored: np.ndarray | None = None,
                enough: float = 1.0, floor: float = -1.0, ids_a=None, ids_b=None) -> np.ndarray:
    """Best correlation (0..1) of paired thumbnails: as they are and with one cropped at the border (either
    one); b mirrored first where `mirrored` says so (None: both ways tried). Flat thumbnails (blank images)
    correlate with nothing but their equals. The border crops are tried only for pairs whose plain
    correlation lies between `floor` and `enough` (already a match, or too unlike for a crop to save it).
    ids_a, ids_b: which image each row is (its crops made once)."""
    if not len(thumbs_a):
        return np.zeros(0, dtype=np.float32)
    n = len(thumbs_a)
    if mirrored is None:
        sides = ((thumbs_b, np.zeros(n, dtype=np.int64)), (np.ascontiguousarray(thumbs_b[:, :, ::-1]), np.ones(n, dtype=np.int64)))
    else:
        flips = np.asarray(mirrored, dtype=bool)
        sides = ((np.where(flips[:, None, None], thumbs_b[:, :, ::-1], thumbs_b), flips.astype(np.int64)),)
    a0 = _unit_rows(thumbs_a)
    best = np.max([np.einsum("nd,nd->n", a0, _unit_rows(b)) for b, _ in sides], axis=0).astype(np.float32)
    todo = np.nonzero((best < enough) & (best >= np.asarray(floor)))[0]
    if len(todo):
        fa, ia = _distinct(ids_a, todo)
        a = _unit_crops(thumbs_a[fa])[ia]               # N x C x D
        for b_thumbs, flipped in sides:
            fb, ib = _distinct(None if ids_b is None else np.asarray(ids_b) * 2 + flipped, todo)
            b = _unit_crops(b_thumbs[fb])[ib]
            best[todo] = np.maximum(best[todo], np.einsum("nd,ncd->nc", a[:, 0], b).max(axis=1))
            best[todo] = np.maximum(best[todo], np.einsum("ncd,nd->nc", a, b[:, 0]).max(axis=1))
    flat_a = np.ptp(thumbs_a.reshape(len(thumbs_a), -1), axis=1) < 3
    flat_b = np.ptp(thumbs_b.reshape(len(thumbs_b), -1), axis=1) < 3
    both_flat = flat_a & flat_b
    if both_flat.any():
        diff = np.abs(thumbs_a[both_flat].astype(np.int16).mean(axis=(1, 2)) - thumbs_b[both_flat].astype(np.int16).mean(axis=(1, 2)))
        best[both_flat] = np.where(diff < 3, 1.0, 0.0)
    return np.clip(best, 0.0, 1.0)


def trimmed_pairs(thumbs_a: np.ndarray, thumbs_b: np.ndarray, keep: float = 0.8) -> np.ndarray:
    """Correlation of paired full-frame thumbnails over the `keep` share of pixels where they agree best: a
    watermark or a caption covers part of a copy and spoils a plain correlation, not this one. The pixels
    that agree must show something (vary by TRIM_KEEP_SPREAD grey levels in the first): a white background
    agrees with any other white background (_pixels.trimmed_best)."""
    return trimmed_crops(thumbs_a, thumbs_b, keep, crops=False)


def trimmed_crops(thumbs_a: np.ndarray, thumbs_b: np.ndarray, keep: float = 0.8, enough: float = 1.0,
                  ids_a=None, ids_b=None, crops: bool = True) -> np.ndarray:
    """trimmed_pairs at the best of the border crops (either one cropped): a watermarked keeper and its
    copy cut at the border. The crops are tried only where the full frames score below `enough`, and
    only until one reaches it. ids_a, ids_b: which image each row is (its crops made once)."""
    from ._pixels import crop_units, trimmed_best

    n = len(thumbs_a)
    if not n:
        return np.zeros(0, dtype=np.float64)
    every = np.arange(n)
    (fa, ia), (fb, ib) = _distinct(ids_a, every), _distinct(ids_b, every)
    raw_a = np.asarray(thumbs_a[fa], dtype=np.float32)
    best = trimmed_best(_unit_rows(raw_a)[:, None], raw_a.reshape(len(fa), 1, -1), _unit_rows(thumbs_b[fb])[:, None],
                        ia, ib, [(0, 0)], keep, TRIM_KEEP_SPREAD)
    todo = np.nonzero(best < enough)[0] if crops else every[:0]
    if len(todo):
        (fa, ia), (fb, ib) = _distinct(ids_a, todo), _distinct(ids_b, todo)
        unit_a, raw_a = crop_units(thumbs_a[fa], CROPS, _resize_matrix, want_raw=True)
        best[todo] = trimmed_best(unit_a, raw_a, _unit_crops(thumbs_b[fb]), ia, ib, BORDER_PAIRINGS, keep,
                                  TRIM_KEEP_SPREAD, enough, best[todo])
    return best


@dataclass(frozen=True)
class Match:
    tier: str | None          # exact / near / similar, or None: no match
    hamming: int
    pixel: float
    embedding: float | None


def compare(coll: Collection, keepers: np.ndarray, members: np.ndarray, settings: DuplicateSettings) -> list[Match]:
    """The tightest tier at which each member matches its keeper itself (None: it does not); keepers and
    members are paired arrays (one keeper may repeat), compared COMPARE_BATCH at a time (memory stays flat:
    the border crops of a batch are some 150 MB)."""
    members = np.asarray(members, dtype=np.int64)
    keepers = np.broadcast_to(np.asarray(keepers, dtype=np.int64), members.shape)
    out: list[Match] = []
    for s in range(0, len(members), COMPARE_BATCH):
        out.extend(_compare(coll, keepers[s:s + COMPARE_BATCH], members[s:s + COMPARE_BATCH], settings))
    return out


COMPARE_BATCH = 4096


def _compare(coll: Collection, keepers: np.ndarray, members: np.ndarray, settings: DuplicateSettings) -> list[Match]:
    if not len(members):
        return []
    dk = coll.digest[keepers]
    same = (coll.digest[members] == dk).all(axis=1) & dk.any(axis=1)
    k, kc = coll.hashes[keepers], coll.cropped[keepers]
    direct = np.minimum.reduce([np.bitwise_count(coll.hashes[members] ^ k), np.bitwise_count(coll.cropped[members] ^ k),
                                np.bitwise_count(coll.hashes[members] ^ kc)])
    mirror = np.bitwise_count(coll.mirrored[members] ^ k)
    ham = np.minimum(direct, mirror)
    flip = mirror < direct  # the member looks like the keeper's mirror image: compare it mirrored
    # ... unless the hashes do not tell (a texture's pHash is noise either way): then both ways, and the
    # better way decides
    unsure = np.abs(mirror.astype(np.int16) - direct.astype(np.int16)) < UNSURE_FLIP
    # the thumbnails are grey: a teal shape and a yellow one of one outline are told apart here, before any pixel
    # work (where both images' hues are known)
    colour_off = hues_apart(coll, members, keepers)
    # two blanks (noise, no picture) are told apart by their colour alone, never by their pixels
    blanks = (coll.spread[members] < BLANK_SPREAD) & (coll.spread[keepers] < BLANK_SPREAD)
    colour_off |= blanks
    pix = np.zeros(len(members), dtype=np.float32)
    # pHashes this close: the border crops are tried however unlike the frames look (a texture cut at the
    # border no longer lines up); farther ones only above CROP_FLOOR
    floors = np.where(ham <= 2 * settings.max_hamming, -1.0, CROP_FLOOR)
    emb = None
    if settings.tier == "similar" and coll.embeddings is not None:
        emb = np.einsum("nd,nd->n", coll.embeddings[members].astype(np.float32), coll.embeddings[keepers].astype(np.float32))
    near = np.zeros(len(members), dtype=bool)
    if settings.tier != "exact":
        # the near tier takes a pair only with pHashes within twice max_hamming or tops within region_hamming
        # (either way round): no pixel work for the others (most of a big set's members, against its keeper),
        # unless the similar tier takes them (the reason shows their pixel similarity)
        tops = np.minimum(np.bitwise_count(coll.upper[members] ^ coll.upper[keepers]),
                          np.bitwise_count(coll.upper_mirror[members] ^ coll.upper[keepers]))
        hopeful = (ham <= 2 * settings.max_hamming) | (tops <= settings.region_hamming)
        if emb is not None:
            hopeful |= emb >= settings.min_embedding_similarity
        size = coll.thumbs.shape[1:]
        kept, seen = np.zeros((len(members), *size), np.uint8), np.zeros((len(members), *size), np.uint8)
        read = np.nonzero(hopeful)[0]
        kept[read], seen[read] = coll.thumbs[keepers[read]], coll.thumbs[members[read]]  # read once for all checks
        look = np.nonzero(~colour_off & hopeful)[0]
        for s in range(0, len(look), 512):
            at = look[s:s + 512]
            pix[at] = pixel_pairs(kept[at], seen[at], flip[at], enough=settings.min_pixel_similarity, floor=floors[at],
                                  ids_a=keepers[at], ids_b=members[at])
            part = at[unsure[at]]
            if len(part):
                other = pixel_pairs(kept[part], seen[part], ~flip[part], enough=settings.min_pixel_similarity,
                                    floor=floors[part], ids_a=keepers[part], ids_b=members[part])
                wins = other > pix[part]
                pix[part[wins]] = other[wins]
                flip[part[wins]] = ~flip[part[wins]]
        seen = np.where(flip[:, None, None], seen[:, :, ::-1], seen)  # each member as it is compared
        seen_ids = members * 2 + flip
        near = (ham <= 2 * settings.max_hamming) & (pix >= settings.min_pixel_similarity)
        # a copy marked along the bottom (a caption, a SOLD banner): its top 70 % agrees
        upper_m = np.where(flip, coll.upper_mirror[members], coll.upper[members])
        region = np.bitwise_count(upper_m ^ coll.upper[keepers])
        top = np.nonzero(~near & ~same & ~colour_off & (region <= settings.region_hamming))[0]
        if len(top):
            upper_pix = _top_similarity(kept[top], seen[top], keepers[top], seen_ids[top])
            ok = upper_pix >= settings.min_pixel_similarity
            near[top[ok]] = True
            pix[top[ok]] = upper_pix[ok]
        maybe = np.nonzero(~near & ~same & (pix >= MAYBE_PIXEL))[0]
        # a local edit (a watermark, a caption): the pixels that agree must agree very well
        close = maybe[(ham[maybe] <= 2 * settings.max_hamming) | (region[maybe] <= settings.region_hamming)]
        if len(close):
            near[close] = trimmed_crops(kept[close], seen[close], enough=settings.min_trimmed_similarity,
                                        ids_a=keepers[close], ids_b=seen_ids[close]) >= settings.min_trimmed_similarity
    near &= ~colour_off
    if blanks.any():
        alike = np.zeros(len(members), dtype=bool)
        alike[blanks] = blank_alike(coll, keepers[blanks], members[blanks])
        near |= alike
        pix[blanks] = alike[blanks]
    similar = emb >= settings.min_embedding_similarity if emb is not None else np.zeros(len(members), dtype=bool)
    tiers = np.where(same, "exact", np.where(near, "near", np.where(similar, "similar", "")))
    return [Match(t or None, int(h), round(float(x), 4), None if emb is None else round(float(emb[i]), 4))
            for i, (t, h, x) in enumerate(zip(tiers.tolist(), ham.tolist(), pix.tolist()))]


# ------------------------------------------------------------------ groups and keepers

class Row(NamedTuple):
    """One image's outcome: its group (None: in no group), whether it is kept, the tier that joined it (a
    named tuple: a million of them are made in a quarter of the time frozen dataclasses take)."""
    index: int
    group: int | None = None
    keep: bool = True
    tier: str | None = None
    keeper: int | None = None   # the index of its group's keeper
    match: Match | None = None
    reference: bool = False


def in_reference(key: str, folders: Sequence[str]) -> bool:
    return any(key.startswith(f.rstrip("/") + "/") for f in folders if f.strip("/"))


def keeper_order(coll: Collection, members: Iterable[int], settings: DuplicateSettings) -> list[int]:
    """Members best first: reference-folder images, then the keep rules in order, then the key."""
    refs = settings.reference_folders

    def sort_key(i: int):
        key = coll.keys[i]
        out: list = [0 if in_reference(key, refs) else 1]
        for rule in settings.keep:
            name, _, arg = rule.partition(":")
            if name == "resolution":
                out.append(-int(coll.pixels[i]))
            elif name == "size":
                out.append(-int(coll.size[i]))
            elif name == "path":
                out.append(len(key))
            elif name == "oldest":
                out.append(float(coll.mtime[i]))
            elif name == "newest":
                out.append(-float(coll.mtime[i]))
            elif name == "format":
                out.append(0 if coll.formats[i].lower() in (arg.lower(), {"jpg": "jpeg"}.get(arg.lower(), "")) else 1)
            elif name == "folder":
                out.append(0 if key.startswith(arg.rstrip("/") + "/") or not arg.strip("/") else 1)
        out.append(key)
        return out

    return sorted(members, key=sort_key)


class _Links:
    """Union-find over image indices (touched ones only: a round over a few sets costs no pass over all n)."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def root(self, x: int) -> int:
        parent = self.parent
        r = parent.setdefault(x, x)
        while parent[r] != r:
            r = parent[r]
        while parent[x] != r:
            parent[x], x = r, parent[x]
        return r

    def join(self, i: int, j: int) -> None:
        ri, rj = self.root(i), self.root(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)

    def sets(self) -> list[np.ndarray]:
        """The connected sets of two or more, each sorted, in order of their first member."""
        touched = np.array(sorted(self.parent), dtype=np.int64)
        if not len(touched):
            return []
        roots = np.array([self.root(int(i)) for i in touched], dtype=np.int64)
        order = np.lexsort((touched, roots))
        touched, roots = touched[order], roots[order]
        cuts = np.nonzero(np.r_[True, roots[1:] != roots[:-1]])[0]
        return sorted((g for g in np.split(touched, cuts[1:]) if len(g) > 1), key=lambda g: int(g[0]))


def _components(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected sets (two or more) of the graph of pairs, each sorted, in order of their first member."""
    links = _Links()
    for i, j in pairs.tolist():
        links.join(i, j)
    return links.sets()


LINKED = 1      # find_groups: a candidate pair's status: its two images match (or, in a small set, are taken
UNLINKED = 0    # to be linked as the hashes pair them), they do not, or
UNCHECKED = -1  # not compared yet
CHECK_BATCH = 1024  # linked_parts: unchecked pairs compared this many at a time


def linked_parts(coll: Collection, pairs: np.ndarray, status: np.ndarray, settings: DuplicateSettings,
                 known: dict, progress=lambda done: None) -> list[np.ndarray]:
    """The connected sets of the graph of the pairs that link, as _components gives them. Unchecked pairs
    are compared here (their status recorded in place, their match in `known`), likeliest first (closest
    pHashes), and only where their two images are not connected already: such a pair cannot change a set, so
    the sets are those of every pair checked, at a fraction of the work for big sets of look-alikes (a street
    of similar houses, cut-outs on white). A pair left unchecked stays so (a later round may need it)."""
    links = _Links()
    for i, j in pairs[status == LINKED].tolist():
        links.join(i, j)
    todo = np.nonzero(status == UNCHECKED)[0]
    todo = todo[np.argsort(_unlikeness(coll, pairs[todo, 0], pairs[todo, 1]), kind="stable")]
    for s in range(0, len(todo), CHECK_BATCH):
        batch = todo[s:s + CHECK_BATCH]
        ask = np.array([k for k, (i, j) in zip(batch.tolist(), pairs[batch].tolist()) if links.root(i) != links.root(j)],
                       dtype=np.int64)
        ask.sort()  # in pair order: an image's pairs side by side, so that its crops are made once for them
        if len(ask):
            for k, (i, j), m in zip(ask.tolist(), pairs[ask].tolist(), compare(coll, pairs[ask, 0], pairs[ask, 1], settings)):
                known[(i, j)] = m
                if m.tier is not None:
                    status[k] = LINKED
                    links.join(i, j)
                else:
                    status[k] = UNLINKED
        progress(s + len(batch))
    return links.sets()


def _unlikeness(coll: Collection, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How unlike paired images look to their pHashes (as they are, or one mirrored): linked_parts checks the
    closest pairs first."""
    return np.minimum(np.bitwise_count(coll.hashes[a] ^ coll.hashes[b]), np.bitwise_count(coll.mirrored[a] ^ coll.hashes[b]))


def _still_linked(n: int, pairs: np.ndarray, status: np.ndarray, rests: list[list[int]], coll: Collection,
                  settings: DuplicateSettings, known: dict) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """The sets of the next round: what is left of each set once its keeper and those who joined it are
    gone, cut again into the parts that are still linked among themselves (a chain that ran through the
    keeper falls apart; one big set of look-alikes does not cost a round per member), best member first;
    and the pairs among them with their status (the next round looks at no other)."""
    set_of = np.full(n, -1, dtype=np.int64)
    for k, rest in enumerate(rests):
        if len(rest) > 1:
            set_of[rest] = k
    if not len(pairs) or not (set_of >= 0).any():
        return [], pairs[:0], status[:0]
    a, b = set_of[pairs[:, 0]], set_of[pairs[:, 1]]
    inner = (a >= 0) & (a == b) & (status != UNLINKED)
    pairs, status = pairs[inner], status[inner]
    parts = linked_parts(coll, pairs, status, settings, known)
    parts.sort(key=lambda c: (int(set_of[c[0]]), int(c[0])))  # the sets' order, as the round before
    return [keeper_order(coll, c.tolist(), settings) for c in parts], pairs, status


BIG_SET = 64  # find_groups: a set of images the hashes pair up larger than this is cut by its checked links first


def find_groups(coll: Collection, settings: DuplicateSettings = DuplicateSettings(), progress=None) -> list[Row]:
    """One Row per image of the collection (in its order)."""
    n = len(coll)
    pairs = [exact_pairs(coll)]
    if settings.tier in ("near", "similar"):
        pairs.append(near_candidates(coll, settings.max_hamming, settings.variant_hamming, settings.region_hamming))
    if settings.tier == "similar":
        pairs.append(similar_candidates(coll, settings.min_embedding_similarity))
    pairs = [p for p in pairs if len(p)]
    allpairs = np.unique(np.concatenate(pairs), axis=0) if pairs else np.zeros((0, 2), dtype=np.int64)
    rows: dict[int, Row] = {}
    found: list[tuple[str, int, list[tuple[int, Match]]]] = []
    components = _components(n, allpairs)
    # A big set (look-alikes the hashes pair up: crops of one scene, a street of similar houses) is cut first
    # into the parts its checked links hold together, so it is not taken apart a keeper a round; in a small
    # set the hashes' pairs link as they are.
    big = [c for c in components if len(c) > BIG_SET]
    in_big = np.zeros(n, dtype=bool)
    if big:
        in_big[np.concatenate(big)] = True
    status = np.where(in_big[allpairs[:, 0]], UNCHECKED, LINKED).astype(np.int8)  # a pair lies within one set
    images = sum(len(c) for c in components)
    checking = int((status == UNCHECKED).sum())
    total = checking + images  # progress: pairs checked, then images placed

    def report(done: int) -> None:
        if progress:
            progress(done, total)

    known: dict[tuple[int, int], Match] = {}
    cut = in_big[allpairs[:, 0]]
    big_status = status[cut]
    parts = linked_parts(coll, allpairs[cut], big_status, settings, known, report) if cut.any() else []
    status[cut] = big_status
    components = sorted([c for c in components if len(c) <= BIG_SET] + parts, key=lambda c: int(c.min()))
    # Rounds: in each set of linked images still to place, its best member is the keeper and the others are
    # compared with it (all sets at once, in batches; a member may match the keeper without a link of its own
    # to it); those that match join its group, the rest form the next round's sets.
    pending = [keeper_order(coll, c.tolist(), settings) for c in components]
    pairs_left = allpairs
    while pending:
        # a member linked to the keeper already has its match; the others are compared with the keeper now
        ask = [(left[0], m) for left in pending for m in left[1:] if (min(left[0], m), max(left[0], m)) not in known]
        if ask:
            asked = np.array(ask, dtype=np.int64)
            known.update(((min(k, m), max(k, m)), match)
                         for (k, m), match in zip(ask, compare(coll, asked[:, 0], asked[:, 1], settings)))
        rests = []
        for left in pending:
            joined, rest = [], []
            for m in left[1:]:
                match = known[(min(left[0], m), max(left[0], m))]
                (joined.append((m, match)) if match.tier is not None else rest.append(m))
            if joined:
                found.append((coll.keys[left[0]], left[0], joined))
            rests.append(rest)
        pending, pairs_left, status = _still_linked(n, pairs_left, status, rests, coll, settings, known)
        report(total - sum(len(left) for left in pending))
    found.sort(key=lambda g: g[0])
    refs = settings.reference_folders
    for number, (_, keeper, joined) in enumerate(found, start=1):
        rows[keeper] = Row(keeper, number, True, None, keeper, None, in_reference(coll.keys[keeper], refs))
        for m, match in joined:
            ref = in_reference(coll.keys[m], refs)
            rows[m] = Row(m, number, ref, match.tier, keeper, match, ref)
    make = tuple.__new__  # an image in no group: its Row built without the named tuple's keyword handling
    return [rows.get(i) or make(Row, (i, None, True, None, None, None, False)) for i in range(n)]


def group_folder(number: int, keeper_key: str) -> str:
    """The folder of one group under the duplicates folder: its number and the keeper's name."""
    stem = posixpath.splitext(posixpath.basename(keeper_key))[0][:60] or "image"
    return f"{number:06d}_{stem}"
