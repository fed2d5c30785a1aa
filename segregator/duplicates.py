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
from typing import Iterable, Sequence

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
    min_pixel_similarity: float = 0.93    # near: the pixel check that confirms a candidate
    min_embedding_similarity: float = 0.90  # similar: cosine of the embeddings
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

    def __len__(self) -> int:
        return len(self.keys)


def collect(results: Iterable, spill: str | None = None,
            thumb_size: int = 48, embeddings: bool = False) -> tuple[Collection, list]:
    """A Collection from analysis results (the images that could be analysed, in the order given), and the
    results that could not (their errors). With `spill` (a file path), thumbnails go to a file there as they
    come (read back a row at a time), not to memory."""
    keys, size, width, height, mtime, formats, digest, hashes, mirrored, cropped, embs = ([] for _ in range(11))
    failed = []
    thumbs_file = open(spill, "wb") if spill else None
    thumbs_mem: list[np.ndarray] = []
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
            hashes.append(fp.phash.value)
            mirrored.append(fp.mirror)
            cropped.append(fp.crop)
            thumb = np.asarray(fp.thumb, dtype=np.uint8)
            if thumb.shape != (thumb_size, thumb_size):
                from PIL import Image

                thumb = np.asarray(Image.fromarray(thumb).resize((thumb_size, thumb_size)), dtype=np.uint8)
            if thumbs_file:
                thumbs_file.write(thumb.tobytes())
            else:
                thumbs_mem.append(thumb)
            if embeddings:
                e = r.embedding
                if e is None:
                    embs.append(None)
                else:
                    e = np.asarray(e, dtype=np.float32)
                    embs.append((e / (np.linalg.norm(e) or 1.0)).astype(np.float16))
    finally:
        if thumbs_file:
            thumbs_file.close()
    n = len(keys)
    if spill and n:
        thumbs = open_thumbs(spill, n, thumb_size)
    else:
        thumbs = np.stack(thumbs_mem) if thumbs_mem else np.zeros((0, thumb_size, thumb_size), dtype=np.uint8)
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
                      np.array(cropped, dtype=np.uint64), thumbs, emb, w, h)
    return coll, failed


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
    if pieces is None:  # about one table entry per image, at most 2^22 entries a piece
        pieces = max(2, min(max_distance + 1, int(np.ceil(64 / min(22, max(8, np.log2(len(b)) + 1))))))
    return hash_pairs_compiled(a, b, same, max_distance, _pieces(64, pieces), _flip_masks)


def near_candidates(coll: Collection, max_distance: int, variant_distance: int | None = None) -> np.ndarray:
    """Pairs whose pHashes are within max_distance as they are, or within variant_distance with one of them
    mirrored or one's centre 90 % against the other (a copy cut at the border)."""
    variant_distance = max_distance if variant_distance is None else variant_distance
    found = [hash_pairs(coll.hashes, None, max_distance)]
    for other in (coll.mirrored, coll.cropped):
        pairs = np.sort(hash_pairs(coll.hashes, other, variant_distance), axis=1)
        found.append(pairs[pairs[:, 0] != pairs[:, 1]])
    both = np.concatenate(found)
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


def similar_candidates(coll: Collection, min_similarity: float, neighbours: int = 16) -> np.ndarray:
    """Pairs whose embeddings' cosine reaches min_similarity: an approximate nearest-neighbour index
    (usearch HNSW over float16 vectors) when it is installed and the set is large, exact blocks otherwise."""
    e = coll.embeddings
    if e is None or len(e) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    have = np.nonzero(np.abs(e).sum(axis=1) > 0)[0]
    found: list[np.ndarray] = []
    try:
        from usearch.index import Index
    except ImportError:
        Index = None
    if Index is None or len(have) <= 20_000:
        block = 2048
        m = e[have].astype(np.float32)
        for s in range(0, len(have), block):
            sims = m[s:s + block] @ m.T
            ii, jj = np.nonzero(sims >= min_similarity)
            ii = ii + s
            keep = ii < jj
            found.append(np.stack([have[ii[keep]], have[jj[keep]]], axis=1))
    else:
        index = Index(ndim=e.shape[1], metric="cos", dtype="f16", connectivity=16, expansion_add=64, expansion_search=64)
        index.add(have.astype(np.uint64), e[have], threads=0)
        for s in range(0, len(have), 50_000):
            part = have[s:s + 50_000]
            res = index.search(e[part], neighbours + 1, threads=0)
            keys, dist = np.asarray(res.keys), np.asarray(res.distances)
            ii = np.repeat(part, keys.shape[1]).reshape(keys.shape)
            ok = (1.0 - dist >= min_similarity) & (keys != ii)
            found.append(np.sort(np.stack([ii[ok], keys[ok].astype(np.int64)], axis=1), axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


# ------------------------------------------------------------------ checks between two images

CROPS = (0.0, 0.025, 0.05, 0.075)


def _crop_stack(thumbs: np.ndarray) -> np.ndarray:
    """N x C x S x S: each thumbnail and its centre crops resized back to S x S."""
    size = thumbs.shape[1]
    out = [thumbs.astype(np.float32)]
    for c in CROPS[1:]:
        d = max(1, round(size * c))
        r = _resize_matrix(size - 2 * d, size).astype(np.float32)
        crop = thumbs[:, d:size - d, d:size - d].astype(np.float32)
        out.append(np.einsum("is,nst,jt->nij", r, crop, r, optimize=True))
    return np.stack(out, axis=1)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.reshape(*x.shape[:-2], -1).astype(np.float32)
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def pixel_pairs(thumbs_a: np.ndarray, thumbs_b: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
    """Best correlation (0..1) of paired thumbnails: as they are and with one cropped at the border (either
    one); b mirrored first where `mirrored` says so (None: both ways tried). Flat thumbnails (blank images)
    correlate with nothing but their equals."""
    if not len(thumbs_a):
        return np.zeros(0, dtype=np.float32)
    a = _unit_rows(_crop_stack(thumbs_a))               # N x C x D
    best = np.zeros(len(thumbs_a), dtype=np.float32)
    if mirrored is None:
        sides = (thumbs_b, thumbs_b[:, :, ::-1])
    else:
        sides = (np.where(np.asarray(mirrored)[:, None, None], thumbs_b[:, :, ::-1], thumbs_b),)
    for b_thumbs in sides:
        b = _unit_rows(_crop_stack(np.ascontiguousarray(b_thumbs)))
        best = np.maximum(best, np.einsum("nd,ncd->nc", a[:, 0], b).max(axis=1))
        best = np.maximum(best, np.einsum("ncd,nd->nc", a, b[:, 0]).max(axis=1))
    flat_a = np.ptp(thumbs_a.reshape(len(thumbs_a), -1), axis=1) < 3
    flat_b = np.ptp(thumbs_b.reshape(len(thumbs_b), -1), axis=1) < 3
    both_flat = flat_a & flat_b
    if both_flat.any():
        diff = np.abs(thumbs_a[both_flat].astype(np.int16).mean(axis=(1, 2)) - thumbs_b[both_flat].astype(np.int16).mean(axis=(1, 2)))
        best[both_flat] = np.where(diff < 3, 1.0, 0.0)
    return np.clip(best, 0.0, 1.0)


def trimmed_pairs(thumbs_a: np.ndarray, thumbs_b: np.ndarray, keep: float = 0.8) -> np.ndarray:
    """Correlation of paired full-frame thumbnails over the `keep` share of pixels where they agree best: a
    watermark or a caption covers part of a copy and spoils a plain correlation, not this one."""
    a = _unit_rows(np.asarray(thumbs_a, dtype=np.float32))
    b = _unit_rows(np.asarray(thumbs_b, dtype=np.float32))
    d = np.abs(a - b)
    m = d <= np.quantile(d, keep, axis=1, keepdims=True)
    cnt = m.sum(axis=1)
    ma = np.where(m, a, 0).sum(axis=1) / cnt
    mb = np.where(m, b, 0).sum(axis=1) / cnt
    xa, xb = np.where(m, a - ma[:, None], 0), np.where(m, b - mb[:, None], 0)
    return (xa * xb).sum(axis=1) / np.sqrt((xa * xa).sum(axis=1) * (xb * xb).sum(axis=1) + 1e-12)


@dataclass(frozen=True)
class Match:
    tier: str | None          # exact / near / similar, or None: no match
    hamming: int
    pixel: float
    embedding: float | None


def compare(coll: Collection, keepers: np.ndarray, members: np.ndarray, settings: DuplicateSettings) -> list[Match]:
    """The tightest tier at which each member matches its keeper itself (None: it does not); keepers and
    members are paired arrays (one keeper may repeat), compared in batches."""
    members = np.asarray(members, dtype=np.int64)
    keepers = np.broadcast_to(np.asarray(keepers, dtype=np.int64), members.shape)
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
    pix = np.zeros(len(members), dtype=np.float32)
    if settings.tier != "exact":
        for s in range(0, len(members), 512):
            pix[s:s + 512] = pixel_pairs(np.asarray(coll.thumbs[keepers[s:s + 512]]),
                                         np.asarray(coll.thumbs[members[s:s + 512]]), flip[s:s + 512])
    emb = None
    if settings.tier == "similar" and coll.embeddings is not None:
        emb = np.einsum("nd,nd->n", coll.embeddings[members].astype(np.float32), coll.embeddings[keepers].astype(np.float32))
    near = (ham <= 2 * settings.max_hamming) & (pix >= settings.min_pixel_similarity) if settings.tier != "exact" \
        else np.zeros(len(members), dtype=bool)
    maybe = np.nonzero(~near & ~same & (ham <= settings.max_hamming + 4) & (pix >= 0.75))[0] if settings.tier != "exact" else []
    if len(maybe):  # a local edit (a watermark, a caption): the pixels that agree must agree very well
        flipped = np.asarray(coll.thumbs[members[maybe]])
        flipped = np.where(flip[maybe][:, None, None], flipped[:, :, ::-1], flipped)
        trimmed = trimmed_pairs(np.asarray(coll.thumbs[keepers[maybe]]), flipped)
        near[maybe] = trimmed >= settings.min_trimmed_similarity
    similar = emb >= settings.min_embedding_similarity if emb is not None else np.zeros(len(members), dtype=bool)
    tiers = np.where(same, "exact", np.where(near, "near", np.where(similar, "similar", "")))
    return [Match(t or None, int(h), round(float(x), 4), None if emb is None else round(float(emb[i]), 4))
            for i, (t, h, x) in enumerate(zip(tiers.tolist(), ham.tolist(), pix.tolist()))]


# ------------------------------------------------------------------ groups and keepers

@dataclass(frozen=True)
class Row:
    """One image's outcome: its group (None: in no group), whether it is kept, the tier that joined it."""
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


def _components(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected sets (two or more) of the graph of pairs, each sorted, in order of their first member."""
    parent = np.arange(n)

    def root(x: int) -> int:
        r = x
        while parent[r] != r:
            r = parent[r]
        while parent[x] != r:
            parent[x], x = r, parent[x]
        return r

    for i, j in pairs.tolist():
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    touched = np.unique(pairs.ravel()) if len(pairs) else np.zeros(0, dtype=np.int64)
    roots = np.array([root(int(i)) for i in touched], dtype=np.int64)
    order = np.lexsort((touched, roots))
    touched, roots = touched[order], roots[order]
    cuts = np.nonzero(np.r_[True, roots[1:] != roots[:-1]])[0]
    return [g for g in np.split(touched, cuts[1:]) if len(g) > 1]


def find_groups(coll: Collection, settings: DuplicateSettings = DuplicateSettings(), progress=None) -> list[Row]:
    """One Row per image of the collection (in its order)."""
    n = len(coll)
    pairs = [exact_pairs(coll)]
    if settings.tier in ("near", "similar"):
        pairs.append(near_candidates(coll, settings.max_hamming, settings.variant_hamming))
    if settings.tier == "similar":
        pairs.append(similar_candidates(coll, settings.min_embedding_similarity))
    pairs = [p for p in pairs if len(p)]
    allpairs = np.unique(np.concatenate(pairs), axis=0) if pairs else np.zeros((0, 2), dtype=np.int64)
    rows: dict[int, Row] = {}
    found: list[tuple[str, int, list[tuple[int, Match]]]] = []
    components = _components(n, allpairs)
    # Rounds: in each set still to place, its best member is the keeper and the others are compared with it
    # (all sets at once, in batches); those that match join its group, the rest form the next round's set.
    pending = [keeper_order(coll, c.tolist(), settings) for c in components]
    done = 0
    while pending:
        keepers = np.concatenate([np.full(len(left) - 1, left[0]) for left in pending])
        members = np.concatenate([np.array(left[1:]) for left in pending])
        matches = iter(compare(coll, keepers, members, settings))
        again = []
        for left in pending:
            joined, rest = [], []
            for m in left[1:]:
                match = next(matches)
                (joined.append((m, match)) if match.tier is not None else rest.append(m))
            if joined:
                found.append((coll.keys[left[0]], left[0], joined))
            if len(rest) > 1:
                again.append(rest)
            else:
                done += 1
        pending = again
        if progress:
            progress(done, len(components))
    found.sort(key=lambda g: g[0])
    refs = settings.reference_folders
    for number, (_, keeper, joined) in enumerate(found, start=1):
        rows[keeper] = Row(keeper, number, True, None, keeper, None, in_reference(coll.keys[keeper], refs))
        for m, match in joined:
            ref = in_reference(coll.keys[m], refs)
            rows[m] = Row(m, number, ref, match.tier, keeper, match, ref)
    return [rows.get(i, Row(i)) for i in range(n)]


def group_folder(number: int, keeper_key: str) -> str:
    """The folder of one group under the duplicates folder: its number and the keeper's name."""
    stem = posixpath.splitext(posixpath.basename(keeper_key))[0][:60] or "image"
    return f"{number:06d}_{stem}"
