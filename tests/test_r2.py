"""R2Storage against a real S3-compatible server (SeaweedFS on 127.0.0.1), and the jobs on a bucket via the CLI."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from segregator import jobs
from segregator.plan import MovePlan, PlanItem
from segregator.r2 import R2Config, R2Storage, client_config, list_buckets, make_client
from tests.conftest import DATA, PHOTOS, plan_dict, text_placeholder, upload_folder
from tests.test_cli import run


def _put_many(storage: R2Storage, keys: list[str]) -> None:
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: storage.client.put_object(Bucket=storage.bucket, Key=k, Body=k.encode()), keys))


def _count_calls(storage: R2Storage, operation: str) -> Counter:
    seen: Counter = Counter()
    storage.client.meta.events.register(f"before-call.s3.{operation}", lambda **kw: seen.update([operation]))
    return seen


def test_client_is_configured_for_r2():
    cfg = client_config()
    # R2 rejects boto3's default CRC32 checksum trailers; a local server would not notice.
    assert cfg.request_checksum_calculation == "when_required"
    assert cfg.response_checksum_validation == "when_required"
    assert cfg.region_name == "auto" and cfg.signature_version == "s3v4"
    assert cfg.s3 == {"addressing_style": "path"} and cfg.retries["mode"] == "adaptive"
    assert cfg.connect_timeout and cfg.read_timeout
    assert make_client("http://127.0.0.1:1", "a", "b") is make_client("http://127.0.0.1:1", "a", "b")


def test_config_from_env_never_shows_the_secret():
    env = {"R2_ENDPOINT": "https://acct.r2.cloudflarestorage.com", "R2_ACCESS_KEY": "AKIA1234567890",
           "R2_SECRET_KEY": "very-secret-value", "R2_BUCKET": "img"}
    cfg = R2Config.from_env(env)
    assert cfg.describe() == "connected to acct.r2.cloudflarestorage.com as AKIA…"
    assert "very-secret" not in repr(cfg) and "AKIA1234567890" not in repr(cfg)
    assert cfg.bucket == "img"
    assert R2Config.from_env({"R2_ENDPOINT": "x"}) is None


def test_pagination_lists_every_object(bucket):
    keys = [f"big/{i // 500:02d}/{i:05d}.jpg" for i in range(2600)]
    _put_many(bucket, keys)
    pages = _count_calls(bucket, "ListObjectsV2")
    listed = [o.key for o in bucket.list("big/")]
    assert sorted(listed) == sorted(keys)
    assert pages["ListObjectsV2"] >= 3  # 1,000 keys a page
    assert bucket.list_folders("big/") == [f"big/{i:02d}/" for i in range(6)]
    assert [o.key for o in bucket.list("big/", recursive=False)] == []
    assert len(list(bucket.list("big/03/", recursive=False))) == 500


def test_quick_scan_counts_images_below_with_bounded_pages(bucket):
    _put_many(bucket, [f"imgs/a/{i}.jpg" for i in range(1200)] + [f"imgs/b/{i}.png" for i in range(5)]
              + ["imgs/b/notes.txt", "imgs/top.jpg", "imgs/c/deep/er/x.jpg", "imgs/c/deep/y.webp"])
    scan = {s.prefix: s for s in bucket.quick_scan("imgs/", max_pages=1)}
    assert scan["imgs/b/"].image_count == 5 and scan["imgs/b/"].direct_count == 5 and len(scan["imgs/b/"].samples) == 3
    assert scan["imgs/a/"].image_count == 1000 and not scan["imgs/a/"].complete  # stopped at one page: "1,000+"
    # a folder holding images only in its subfolders counts them, with samples from below
    assert scan["imgs/c/"].image_count == 2 and scan["imgs/c/"].direct_count == 0 and scan["imgs/c/"].complete
    assert set(scan["imgs/c/"].samples) == {"imgs/c/deep/er/x.jpg", "imgs/c/deep/y.webp"}
    assert scan["imgs/"].direct_count == 1 and not scan["imgs/"].complete
    full = {s.prefix: s for s in bucket.quick_scan("imgs/", max_pages=5)}
    assert full["imgs/a/"].image_count == 1200 and full["imgs/a/"].complete
    assert full["imgs/"].image_count == 1200 + 5 + 1 + 2 and full["imgs/"].direct_count == 1 and full["imgs/"].complete


def test_batch_delete_of_1500_keys(bucket):
    keys = [f"del/{i:05d}.jpg" for i in range(1500)]
    _put_many(bucket, keys)
    calls = _count_calls(bucket, "DeleteObjects")
    assert bucket.delete_many(keys) == []
    assert calls["DeleteObjects"] == 2  # batches of at most 1,000
    assert list(bucket.list("del/")) == []


def test_moves_are_server_side_and_verified(bucket):
    data = (PHOTOS / "coffee.jpg").read_bytes()
    bucket.write("in/coffee.jpg", data)
    bucket.write("out/coffee.jpg", b"someone else's file")
    copies = _count_calls(bucket, "CopyObject")
    put_keys: list[str] = []
    get_keys: list[str] = []
    bucket.client.meta.events.register("provide-client-params.s3.PutObject",
                                       lambda params, **kw: put_keys.append(params.get("Key")))
    bucket.client.meta.events.register("provide-client-params.s3.GetObject",
                                       lambda params, **kw: get_keys.append(params.get("Key")))
    plan = MovePlan("classify", bucket.record(), "", "", [PlanItem("in/coffee.jpg", "out/coffee.jpg")])
    report, _ = jobs.run_plan(plan, bucket)
    assert report.results[0].destination == "out/coffee_1.jpg"
    assert copies["CopyObject"] >= 1
    # no byte of an image passes through the client: only the tool's own lock (and a probe) are written and read
    assert put_keys and all(k.startswith(".segregator/") for k in put_keys + get_keys)
    assert bucket.read("out/coffee_1.jpg") == data and bucket.read("out/coffee.jpg") == b"someone else's file"
    assert not bucket.exists("in/coffee.jpg")
    assert bucket.info("out/coffee_1.jpg").etag == hashlib.md5(data).hexdigest()


def test_plan_moves_copy_only_the_listed_version(bucket, tmp_path):
    """A plan built from a listing carries each source's ETag and size: the copy is conditional on that very
    version (CopySourceIfMatch), so a source changed after the listing is left where it is, and reported."""
    upload_folder(bucket, PHOTOS, "in/")
    results = jobs.analyse_source(bucket, "in/", cache=False, workers=1)
    plan = jobs.classification_plan(bucket, results, "in/", "out/")
    assert all(i.source_version == bucket.info(i.source).etag and i.source_size == bucket.info(i.source).size
               for i in plan.items)
    changed = plan.items[0].source
    new_bytes = (PHOTOS / "coffee.jpg").read_bytes() + b"\0trailing"
    bucket.delete(changed)
    bucket.write(changed, new_bytes)  # changed since the listing
    copies = _count_calls(bucket, "CopyObject")
    report, event = jobs.run_plan(plan, bucket)
    assert report.count("moved") == len(plan.items) - 1
    assert [e["key"] for e in report.errors] == [changed] and "changed since the plan" in report.errors[0]["error"]
    assert bucket.read(changed) == new_bytes
    assert copies["CopyObject"] == len(plan.items)  # one conditional copy each (the changed one refused)
    assert [o.key for o in bucket.list("in/")] == [changed]


def test_presigned_url_works_then_expires(bucket):
    bucket.write("p/cat.jpg", (PHOTOS / "chelsea.jpg").read_bytes())
    url = bucket.presigned_url("p/cat.jpg", expires=2)
    assert url.startswith("http://127.0.0.1:")
    assert urllib.request.urlopen(url, timeout=10).read() == (PHOTOS / "chelsea.jpg").read_bytes()
    time.sleep(3.5)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=10)
    assert err.value.code == 403
    with pytest.raises(ValueError):
        bucket.presigned_url("p/cat.jpg", expires=8 * 24 * 3600)


def test_reads_take_one_signed_get_and_fall_back_to_boto3_for_anything_else(r2_config, bucket):
    """Image reads skip boto3's per-call machinery (one signed GET on its pool); the bytes are exact for odd keys,
    and a missing key, a wrong secret or an endpoint that is down still give boto3's clear errors."""
    from tests.test_storage import ODD_KEYS

    body = (PHOTOS / "chelsea.jpg").read_bytes()
    for key in ODD_KEYS:
        bucket.client.put_object(Bucket=bucket.bucket, Key=key, Body=body)
    calls = _count_calls(bucket, "GetObject")
    for key in ODD_KEYS:
        assert bucket.read(key) == body
    assert calls["GetObject"] == 0  # none went through boto3
    with pytest.raises(FileNotFoundError):
        bucket.read("no-such-key.jpg")
    assert calls["GetObject"] == 1  # the miss was asked again through boto3, for its message
    with pytest.raises(PermissionError, match="access denied"):
        R2Storage(R2Config(r2_config.endpoint, r2_config.access_key, "not-the-secret"), bucket.bucket).read(ODD_KEYS[0])
    with pytest.raises(ConnectionError, match="endpoint unreachable"):
        R2Storage(R2Config("http://127.0.0.1:9", "key", "secret"), "b").read("x.jpg")


def test_wrong_secret_gives_the_clear_error(r2_config, bucket):
    wrong = R2Config(r2_config.endpoint, r2_config.access_key, "not-the-secret")
    with pytest.raises(PermissionError, match="access denied: check R2_ACCESS_KEY/R2_SECRET_KEY"):
        list(R2Storage(wrong, bucket.bucket).list())
    with pytest.raises(PermissionError):
        R2Storage(wrong, bucket.bucket).check_bucket()


def test_missing_bucket_and_unreachable_endpoint(r2_config):
    with pytest.raises(FileNotFoundError, match="bucket not found: no-such-bucket"):
        R2Storage(r2_config, "no-such-bucket").check_bucket()
    down = R2Config("http://127.0.0.1:9", "key", "secret")  # nothing listens on the discard port
    with pytest.raises(ConnectionError, match="endpoint unreachable: 127.0.0.1:9"):
        R2Storage(down, "b").check_bucket()


def test_bucket_detection_and_scoped_key_fallback(r2_config, bucket):
    names, note = list_buckets(r2_config)
    assert bucket.bucket in names and note == ""
    scoped = R2Config(r2_config.endpoint, r2_config.access_key, "cannot-list", bucket="img")
    names, note = list_buckets(scoped)
    assert names == ["img"] and "R2_BUCKET=img" in note
    with pytest.raises(PermissionError, match="set R2_BUCKET"):
        list_buckets(R2Config(r2_config.endpoint, r2_config.access_key, "cannot-list"))


def _contents(storage: R2Storage) -> dict[str, str]:
    return {o.key: hashlib.md5(storage.read(o.key)).hexdigest() for o in storage.list()}


def _seed(bucket) -> dict[str, str]:
    prefix = "images/masterImgs/"
    for p in sorted(PHOTOS.glob("*.jpg"))[:6]:
        bucket.write(prefix + p.name, p.read_bytes())
    bucket.write(prefix + "listing 7/kitchen+1.jpg", (PHOTOS / "coffee.jpg").read_bytes())
    bucket.write(prefix + "listing 7/no image.png", _png(text_placeholder("No Image Available")))
    bucket.write(prefix + "agent.png", (DATA / "placeholders" / "avatar-default.png").read_bytes())
    bucket.write(prefix + "broken.jpg", (PHOTOS / "china.jpg").read_bytes()[:3000])
    bucket.write("elsewhere/keep.jpg", (PHOTOS / "beach.jpg").read_bytes())
    return _contents(bucket)


def _png(im) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _accounted(before: dict[str, str], after: dict[str, str], plan: dict) -> None:
    """Every source object is either where it was or at its planned place; none lost, none duplicated."""
    assert sorted(before.values()) == sorted(after.values())
    planned = {i["source"]: i["destination"] for i in plan["items"]}
    for key, digest in before.items():
        dest = planned.get(key, key)
        assert after.get(dest) == digest, f"{key} not at {dest}"


def test_three_jobs_on_a_bucket_through_the_cli(bucket, r2_env, tmp_path, isolated_log):
    before = _seed(bucket)
    src = f"r2://{bucket.bucket}/images/masterImgs"

    p = run("classify", src, "--json", "--quiet", "--plan-out", tmp_path / "classify.json")
    assert p.returncode == 0, p.stderr
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert set(rows) == {k[len("images/masterImgs/"):] for k in before if k.startswith("images/")}
    assert rows["listing 7/no image.png"]["category"] == "no_image" and rows["broken.jpg"]["error"] == "truncated JPEG"
    plan = plan_dict(tmp_path / "classify.json")
    assert plan["storage"] == {"kind": "r2", "bucket": bucket.bucket, "endpoint_host": r2_env.host}
    assert all(i["destination"].startswith("images/masterImgs/") for i in plan["items"])
    assert _contents(bucket) == before  # a plan moves nothing

    p = run("apply", tmp_path / "classify.json", "--yes", "--quiet")
    assert p.returncode == 0, p.stderr
    after = _contents(bucket)
    _accounted(before, after, plan)
    assert "images/masterImgs/no_image/agent.png" in after and "images/masterImgs/broken.jpg" in after
    event = json.loads(isolated_log.read_text())[-1]
    assert event["event_type"] == "r2_full_bucket" and event["bucket"] == bucket.bucket
    assert event["source_prefix"] == "images/masterImgs/" and event["output_prefix"] == "images/masterImgs/"
    assert r2_env.secret_key not in isolated_log.read_text()


def test_reference_and_placeholder_jobs_on_a_bucket(bucket, r2_env, tmp_path):
    before = _seed(bucket)
    src = f"r2://{bucket.bucket}/images/masterImgs/"
    ref = tmp_path / "ref.jpg"
    ref.write_bytes((PHOTOS / "coffee.jpg").read_bytes())
    p = run("similar", src, "--reference", ref, "--json", "--quiet", "--plan-out", tmp_path / "sim.json",
            "--output", "/matches/coffee")
    assert p.returncode == 0, p.stderr
    matched = sorted(r["key"] for r in json.loads(p.stdout) if r["match"])
    assert matched == ["listing 7/kitchen+1.jpg"]
    assert run("apply", tmp_path / "sim.json", "--yes", "--quiet").returncode == 0
    after = _contents(bucket)
    _accounted(before, after, plan_dict(tmp_path / "sim.json"))
    assert sorted(k for k in after if k.startswith("matches/coffee/")) == ["matches/coffee/kitchen+1.jpg"]

    p = run("placeholders", src, "--plan-out", tmp_path / "ph.json", "--quiet")
    assert p.returncode == 0, p.stderr
    assert run("apply", tmp_path / "ph.json", "--yes", "--quiet").returncode == 0
    final = _contents(bucket)
    _accounted(after, final, plan_dict(tmp_path / "ph.json"))
    assert sorted(k for k in final if "/no_image/" in k) == ["images/masterImgs/no_image/agent.png",
                                                             "images/masterImgs/no_image/no image.png"]


def test_cli_errors_on_r2_are_clear_and_keep_the_secret(bucket, r2_env, monkeypatch):
    monkeypatch.setenv("R2_SECRET_KEY", "wrong-secret-123")
    p = run("classify", f"r2://{bucket.bucket}/", "--json")
    assert p.returncode == 1 and "access denied: check R2_ACCESS_KEY/R2_SECRET_KEY" in p.stderr
    assert "wrong-secret-123" not in p.stderr + p.stdout
    monkeypatch.delenv("R2_ENDPOINT")
    p = run("classify", "r2://any/")
    assert p.returncode == 1 and "R2 is not configured" in p.stderr


def test_apply_refuses_a_plan_from_another_endpoint(bucket, r2_env, tmp_path):
    bucket.write("a/x.jpg", (PHOTOS / "china.jpg").read_bytes())
    storage, _ = jobs.open_source(f"r2://{bucket.bucket}/a/")
    plan = jobs.classification_plan(storage, jobs.analyse_source(storage, "a/", workers=1), "a/")
    data = json.loads(plan.to_json())
    data["storage"]["endpoint_host"] = "acct.r2.cloudflarestorage.com"
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = run("apply", tmp_path / "p.json", "--yes")
    assert p.returncode == 1 and "not written by this installation" in p.stderr  # edited: --source is needed
    p = run("apply", tmp_path / "p.json", "--yes", "--source", f"r2://{bucket.bucket}/a/")
    assert p.returncode == 1 and "acct.r2.cloudflarestorage.com" in p.stderr and "plan refused" in p.stderr
    data.pop("signature", None)
    data["storage"].pop("endpoint_host")
    (tmp_path / "p.json").write_text(json.dumps(data))
    p = run("apply", tmp_path / "p.json", "--yes", "--source", f"r2://{bucket.bucket}/a/")
    assert p.returncode == 1 and "plan refused" in p.stderr  # a plan without its endpoint applies nowhere
    assert bucket.exists("a/x.jpg")


def test_teach_from_a_bucket_then_classify_a_bucket(bucket, r2_env, tmp_path):
    """`teach r2://BUCKET/PREFIX` (a subfolder per category in the bucket), then classify another prefix."""
    from PIL import ImageOps

    from segregator.learned import available
    from tests.conftest import jpeg_bytes, photo

    if not available():
        pytest.skip("image model not installed")
    for category, name in (("Kitchen", "coffee"), ("Outside", "beach")):
        im = photo(name)
        w, h = im.size
        for k in range(4):
            ex = im.crop((k * w // 30, k * h // 30, w - k * w // 25, h - k * h // 25))
            bucket.write(f"examples/{category}/{k}.jpg", jpeg_bytes(ImageOps.mirror(ex) if k % 2 else ex))
    bucket.write("new/cup.jpg", jpeg_bytes(photo("coffee").resize((300, 200))))
    bucket.write("new/shore.jpg", jpeg_bytes(photo("beach").resize((300, 200))))
    model = tmp_path / "m.json"
    p = run("teach", f"r2://{bucket.bucket}/examples", "--out", model, "--json", "--quiet")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["categories"] == {"Kitchen": 4, "Outside": 4}
    p = run("classify", f"r2://{bucket.bucket}/new", "--json", "--quiet", "--classifier", model)
    assert p.returncode == 0, p.stderr
    assert {r["key"]: r["category"] for r in json.loads(p.stdout)} == {"cup.jpg": "Kitchen", "shore.jpg": "Outside"}


def test_observe_many_lists_key_ranges_and_tells_absent_keys(bucket):
    """Many keys of one folder are looked up by listing their key range (pages of 1,000), absent ones
    included; the answer is the same as a HEAD each."""
    present = [f"f/{i:05d}.jpg" for i in range(0, 5000, 2)]  # 2,500 objects, every other name
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: bucket.client.put_object(Bucket=bucket.bucket, Key=k, Body=k.encode()), present))
    bucket.write("f/sub/00010.jpg", b"in a subfolder")
    asked = [f"f/{i:05d}.jpg" for i in range(1000, 3400)] + ["f/zzz.jpg", "g/1.jpg"]
    lists, heads = _count_calls(bucket, "ListObjectsV2"), _count_calls(bucket, "HeadObject")
    seen = bucket.observe_many(asked)
    assert {k for k, v in seen.items() if v is not None} == set(asked) & set(present)
    assert all(seen[k].size == len(k) for k in set(asked) & set(present))
    assert lists["ListObjectsV2"] <= 4 and heads["HeadObject"] <= 3  # a listing per 1,000 objects, not 2,402 HEADs


def test_a_request_delay_reaches_reads_made_in_another_process(bucket, r2_config):
    """R2Config.request_delay (benches: a server far away) travels with the configuration: a storage built
    from it in a worker process waits before its reads too, and the bytes are unchanged."""
    import dataclasses
    import multiprocessing

    bucket.write("far.jpg", b"x" * 400_000)
    far = dataclasses.replace(r2_config, request_delay=0.3)
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
        near_s, near_ok = pool.submit(_timed_read, r2_config, bucket.bucket, "far.jpg").result()
        far_s, far_ok = pool.submit(_timed_read, far, bucket.bucket, "far.jpg").result()
    assert near_ok and far_ok
    assert far_s >= 0.3 and near_s < 0.3, (near_s, far_s)


def _timed_read(config, name: str, key: str) -> tuple[float, bool]:
    from segregator.r2 import R2Storage

    storage = R2Storage(config, name)
    storage.read(key)  # the client made and connected
    t0 = time.perf_counter()
    ok = storage.read(key) == b"x" * 400_000
    return time.perf_counter() - t0, ok
