"""A small smoke run of each benchmark (the real runs are `make bench`; timing has no place in tests).
They print their figures; here only that they run and print what they promise is checked."""

import re
import subprocess
import sys

from tests.conftest import PHOTOS, REPO


def bench(*args) -> str:
    p = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_analyse_bench_smoke():
    out = bench("bench.analyse", "--corpus", str(PHOTOS), "--images", "24", "--baseline-images", "4", "--rounds", "1",
                "--rtt-ms", "20")
    assert "ratio=" in out and "floor_fraction=" in out
    assert re.search(r"bucket_fraction=[\d.]+; the local S3 server used [\d.]+ ms CPU an image", out)


def test_search_bench_smoke():
    out = bench("bench.search", "--hashes", "100000", "--group", "5000", "--embeddings", "30000", "--tags", "30000")
    assert out.count("ratio=") == 2 and "recall@10 against brute force" in out and out.count("tag query") == 6


def test_r2_moves_bench_smoke():
    out = bench("bench.r2_moves", "--count", "40", "--size-kb", "20")
    assert "ratio=" in out


def test_memory_bench_smoke():
    out = bench("bench.memory", "--corpus", str(PHOTOS), "--counts", "20", "60", "--where", "local")
    assert "growth=" in out
    workers = [float(m) for m in re.findall(r"largest worker's peak (\d+) MB", out)]
    assert len(workers) == 2 and all(w > 20 for w in workers), out  # the pool's workers were found and read


def test_rescan_bench_smoke():
    out = bench("bench.rescan", "--corpus", str(PHOTOS), "--images", "60", "--where", "local", "r2")
    assert out.count("ratio=") == 2


def test_scale_bench_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGREGATOR_DATA", str(tmp_path / "data"))
    out = bench("bench.scale", "--count", "300", "--where", "local", "r2", "--classifier", "heuristic")
    for stage in ("classify -> plan (job)", "apply (job)", "undo (job)", "classify --plan-out (CLI)", "apply (CLI)"):
        assert out.count(stage) == 2, out
    assert "peak RSS" in out and "objects/s" in out


def test_duplicates_bench_smoke():
    out = bench("bench.duplicates", "--count", "20000", "--sample", "5000")
    assert "100.0% of the planted" in out and "x faster" in out


def test_duplicates_end_to_end_bench_smoke():
    out = bench("bench.duplicates", "--end-to-end", "--count", "1000")
    import re

    found = re.search(r"(\d+) of the 10 planted copies among them", out)
    assert "second run (all cached)" in out and found and int(found.group(1)) >= 8, out


def test_cluster_bench_smoke():
    out = bench("bench.cluster", "--corpus", str(PHOTOS), "--images", "48", "--rounds", "1", "--rss-counts", "50",
                "100", "--ceiling", "300")
    for where in ("local", "r2"):
        assert f"speed {where}: pool" in out and f"memory {where}: growth=" in out
    assert out.count("ratio=") == 2 and "client ceiling:" in out


def test_grouped_folds_keep_each_package_on_one_side():
    """bench/grouped.py's cross-validation: every package's images in one fold, folds of similar size."""
    from collections import defaultdict

    from bench.grouped import FOLDS, package_folds

    packages = [f"pkg{i % 23}" for i in range(1000)] + ["big"] * 150
    folds = package_folds(packages)
    seen = defaultdict(set)
    for p, f in zip(packages, folds):
        seen[p].add(int(f))
    assert all(len(v) == 1 for v in seen.values())
    sizes = [int((folds == k).sum()) for k in range(FOLDS)]
    assert sum(sizes) == len(packages) and max(sizes) - min(sizes) <= 150
