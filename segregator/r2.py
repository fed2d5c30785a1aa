"""Cloudflare R2 (S3 API) storage: the boto3 client, configuration from the environment, and R2Storage.

Every boto3 call goes through this module, and its errors leave it as the OSError family with a clear message.
Secrets never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence
from urllib.parse import quote, urlparse

import boto3
import botocore.exceptions
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from .storage import (COPY_GONE, NOT_DELETED, REMOVED, SOURCE_CHANGED, FolderSummary, KEY_MAX, ObjectInfo, Removal,
                      SourceChanged, Storage, normalise_prefix, same_object, scan_folders, scan_keys)

PRESIGN_SECONDS = 15 * 60
DELETE_BATCH = 1000   # DeleteObjects takes at most 1,000 keys


def client_config() -> Config:
    """R2 wants region 'auto', SigV4 and path-style addressing. boto3 >= 1.36 adds CRC32 checksum trailers by
    default and R2 rejects them, so checksums are only sent or checked when an operation requires them."""
    return Config(
        region_name="auto",
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=32,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@functools.lru_cache(maxsize=8)
def make_client(endpoint: str, access_key: str, secret_key: str, request_delay: float = 0.0):
    """One client per endpoint and key in a process, reused (boto3 clients are thread-safe). `request_delay`
    (seconds, benches and tests only): every request the client sends waits that long first, boto3's calls and
    R2Storage's quick reads alike (they share its HTTP session)."""
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        config=client_config())
    if request_delay > 0:
        session = client._endpoint.http_session
        send = session.send

        def delayed(request):
            time.sleep(request_delay)
            return send(request)

        session.send = delayed
    return client


@functools.lru_cache(maxsize=8)
def _credentials(access_key: str, secret_key: str):
    from botocore.credentials import Credentials

    return Credentials(access_key, secret_key).get_frozen_credentials()


@dataclass(frozen=True)
class R2Config:
    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    bucket: str = ""
    demo: bool = False   # the local demo server, not a real account
    presign_seconds: int = PRESIGN_SECONDS
    request_delay: float = 0.0  # seconds before every request (benches and tests: a server far away), in any
                                # process whose client is made from this configuration; never set by the tool

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "R2Config | None":
        """R2_ENDPOINT, R2_ACCESS_KEY, R2_SECRET_KEY (and optional R2_BUCKET); None when not configured."""
        env = os.environ if environ is None else environ
        endpoint, key, secret = (env.get(n, "").strip() for n in ("R2_ENDPOINT", "R2_ACCESS_KEY", "R2_SECRET_KEY"))
        if not (endpoint and key and secret):
            return None
        try:
            presign = int(env.get("R2_PRESIGN_SECONDS") or PRESIGN_SECONDS)
        except ValueError:
            raise ValueError("R2_PRESIGN_SECONDS must be a whole number of seconds") from None
        return cls(endpoint, key, secret, env.get("R2_BUCKET", "").strip(), presign_seconds=presign)

    def __post_init__(self) -> None:
        check_endpoint(self.endpoint)

    @property
    def host(self) -> str:
        """host[:port] of the endpoint (what plans and messages name)."""
        parsed = urlparse(self.endpoint)
        if not parsed.hostname:
            return self.endpoint
        return parsed.hostname + (f":{parsed.port}" if parsed.port else "")

    def describe(self) -> str:
        """What the UI may show: the endpoint host and the first four characters of the key, never more."""
        if self.demo:
            return f"local demo bucket at {self.host}"
        return f"connected to {self.host} as {self.access_key[:4]}…"

    def client(self):
        return make_client(self.endpoint, self.access_key, self.secret_key, self.request_delay)


class PreconditionFailed(FileExistsError):
    """A conditional request was refused (412). `retried`: the client had sent it more than once, so an
    earlier attempt may have succeeded with its reply lost."""
    retried = False


def check_endpoint(endpoint: str) -> None:
    """Refuse an endpoint that is not a plain http(s) URL, or that carries credentials (user:password@host),
    which would otherwise travel into plans, cache keys and messages. The message never repeats them."""
    try:
        parsed = urlparse(endpoint)
        parsed.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise ValueError("R2_ENDPOINT is not a valid URL (expected https://<account-id>.r2.cloudflarestorage.com)") from None
    if parsed.username is not None or parsed.password is not None or "@" in parsed.netloc:
        raise ValueError("R2_ENDPOINT must not contain credentials (user:password@host): put the key pair in "
                         "R2_ACCESS_KEY and R2_SECRET_KEY, and the endpoint as https://<account-id>.r2.cloudflarestorage.com")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("R2_ENDPOINT must be an http(s) URL such as https://<account-id>.r2.cloudflarestorage.com")
    if parsed.query or parsed.fragment or parsed.params:
        raise ValueError("R2_ENDPOINT must not carry a query or fragment")


def _code(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    err = exc.response.get("Error", {})
    return str(err.get("Code", "")), int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


@contextmanager
def translate_errors(bucket: str, key: str = "", host: str = ""):
    """boto3/botocore errors -> OSError family with a message a user can act on."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code, status = _code(exc)
        where = f"{bucket}/{key}" if key else bucket
        if code == "NoSuchBucket" or (status == 404 and not key):
            raise FileNotFoundError(f"bucket not found: {bucket}") from None
        if code in ("NoSuchKey", "NotFound", "404") or status == 404:
            raise FileNotFoundError(f"not found: {where}") from None
        if code in ("AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken",
                    "Unauthorized", "403") or status in (401, 403):
            raise PermissionError("access denied: check R2_ACCESS_KEY/R2_SECRET_KEY") from None
        if code in ("PreconditionFailed", "412") or status == 412:
            refused = PreconditionFailed(f"already exists: {where}")
            refused.retried = bool(exc.response.get("ResponseMetadata", {}).get("RetryAttempts"))
            raise refused from None
        raise OSError(f"R2 error {code or status} on {where}: {exc.response.get('Error', {}).get('Message', '')}") from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError) as exc:
        raise ConnectionError(f"endpoint unreachable: {host or 'R2'} ({type(exc).__name__})") from None
    except botocore.exceptions.NoCredentialsError:
        raise PermissionError("no credentials: set R2_ACCESS_KEY and R2_SECRET_KEY") from None
    except botocore.exceptions.HTTPClientError as exc:  # resets, broken pipes, protocol errors
        raise ConnectionError(f"endpoint unreachable: {host or 'R2'} ({type(exc).__name__})") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise OSError(f"R2 client error: {type(exc).__name__}") from None


def list_buckets(config: R2Config) -> tuple[list[str], str]:
    """Bucket names the key can see, and a note for the user. A key scoped to one bucket cannot list
    buckets: then R2_BUCKET is used, with a message saying so."""
    try:
        with translate_errors("", host=config.host):
            names = [b["Name"] for b in config.client().list_buckets().get("Buckets", [])]
        names = [n for n in names if n != "segregator-health"]
        return names, ""
    except PermissionError:
        if config.bucket:
            return [config.bucket], f"this key cannot list buckets; using R2_BUCKET={config.bucket}"
        raise PermissionError("this key cannot list buckets: set R2_BUCKET to the bucket it may use") from None


class R2Storage(Storage):
    """A bucket on R2 (or any S3-compatible server). Keys are object keys; a move is a server-side copy,
    verified, then a delete; names are never overwritten (conditional writes where the server has them)."""

    kind = "r2"
    read_threads = 16
    move_threads = 32   # each step of a move waits on the network: overlap many (the pool holds 32 connections)
    move_batch = 256
    max_key_component = KEY_MAX

    def __init__(self, config: R2Config, bucket: str):
        if not bucket:
            raise ValueError("no bucket given")
        self.config = config
        self._bucket = bucket
        self.client = config.client()
        self._conditional = True   # flips off when the server refuses If-None-Match on copies
        self._delete_if_match: bool | None = None  # whether DeleteObjects honours an ETag per key (probed)

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def description(self) -> str:
        return f"bucket {self._bucket} ({self.config.describe()})"

    def record(self) -> dict[str, str]:
        return {"kind": "r2", "bucket": self._bucket, "endpoint_host": self.config.host}

    def lock_area(self) -> str:
        return f"r2://{self.config.host}/{self._bucket}"

    def _errors(self, key: str = ""):
        return translate_errors(self._bucket, key, self.config.host)

    ACCESS_PROBE = ".segregator/access-check/"

    def write_problem(self) -> str | None:
        """A probe: an empty object written under .segregator/access-check/ and deleted at once (R2 tokens are
        per bucket, read-only or read & write; a move needs write and delete)."""
        import uuid

        probe = f"{self.ACCESS_PROBE}{uuid.uuid4().hex}"
        advice = ("analysing, searching and downloading plans work; moving needs an R2 API token with "
                  "\"Object Read & Write\" on this bucket (R2_ACCESS_KEY / R2_SECRET_KEY)")
        try:
            with self._errors(probe):
                self.client.put_object(Bucket=self._bucket, Key=probe, Body=b"")
        except PermissionError:
            return f"the R2 key in use can read bucket {self._bucket} but cannot write to it (a read-only token?): {advice}"
        except OSError as exc:
            return f"cannot check write access to bucket {self._bucket}: {exc}"
        try:
            with self._errors(probe):
                self.client.delete_object(Bucket=self._bucket, Key=probe)
        except PermissionError:
            return (f"the R2 key in use can write to bucket {self._bucket} but cannot delete (a move deletes each "
                    f"source once its copy is checked; the empty probe object {probe} is left there): {advice}")
        except OSError as exc:
            return f"cannot check delete access to bucket {self._bucket} (the empty probe object {probe} may be left there): {exc}"
        return None

    def check_bucket(self) -> None:
        """Raise the clear error now (missing bucket, wrong key, endpoint down) rather than mid-job."""
        with self._errors():
            self.client.head_bucket(Bucket=self._bucket)

    # -- listing -------------------------------------------------------------------------------------------
    def _pages(self, prefix: str, delimiter: bool, max_pages: int | None = None):
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": self._bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        with self._errors(prefix):
            for n, page in enumerate(paginator.paginate(**kwargs)):
                if max_pages is not None and n >= max_pages:
                    return
                yield page

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ObjectInfo]:
        prefix = normalise_prefix(prefix)
        for page in self._pages(prefix, delimiter=not recursive):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue  # folder marker objects
                etag = obj.get("ETag", "").strip('"')
                yield ObjectInfo(obj["Key"], int(obj["Size"]), obj["LastModified"].timestamp(), etag, etag)

    def list_folders(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in self._pages(normalise_prefix(prefix), delimiter=True):
            out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return out

    def quick_scan(self, prefix: str = "", max_pages: int = 3, samples: int = 3) -> list[FolderSummary]:
        """The prefix itself and its direct subfolders, each with its count of images in it and below and
        sample keys from below. Reads at most `max_pages` pages (1,000 keys each) per folder, so it stays fast
        on large buckets (a count that stopped there is marked incomplete)."""
        prefix = normalise_prefix(prefix)

        def keys(folder: str, delimiter: bool):
            for page in self._pages(folder, delimiter=delimiter, max_pages=max_pages + 1):
                for obj in page.get("Contents", []):
                    yield obj["Key"]

        return [scan_keys(folder, keys(folder, False), keys(folder, True), max_pages * 1000, samples)
                for folder in scan_folders(prefix, self.list_folders(prefix))]

    # -- objects -------------------------------------------------------------------------------------------
    def info(self, key: str) -> ObjectInfo:
        with self._errors(key):
            head = self.client.head_object(Bucket=self._bucket, Key=key)
        etag = head.get("ETag", "").strip('"')
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp(), etag, etag)

    def read(self, key: str) -> bytes:
        data = self._quick_get(key)
        if data is not None:
            return data
        with self._errors(key):
            return self.client.get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def _quick_get(self, key: str) -> bytes | None:
        """A whole object by one signed GET sent on the client's own connection pool (same endpoint, proxies,
        certificates and timeouts), without boto3's per-call machinery: about half the client's CPU an image
        (bench.analyse --rtt-ms). Only a complete 200 answer counts; anything else (an error, a short body,
        a client without that pool) returns None, and read() asks boto3, with its retries and error messages."""
        session = getattr(getattr(self.client, "_endpoint", None), "http_session", None)
        if session is None:
            return None
        request = AWSRequest(method="GET", url=f"{self.config.endpoint.rstrip('/')}/{quote(self._bucket)}/"
                                                f"{quote(key, safe='/~')}", stream_output=True)
        S3SigV4Auth(_credentials(self.config.access_key, self.config.secret_key), "s3", "auto").add_auth(request)
        try:
            response = session.send(request.prepare())
            data = response.raw.read()  # in one piece (the session's own read goes 64 KB at a time: a tenth more CPU)
        except Exception:  # noqa: BLE001 - any failure: boto3 tries again and says what went wrong
            return None
        length = response.headers.get("content-length")
        if response.status_code != 200 or length is None or int(length) != len(data):
            return None
        return data

    def write(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self.client.put_object(Bucket=self._bucket, Key=key, Body=data, IfNoneMatch="*")

    def replace_if(self, key: str, data: bytes, etag: str) -> bool:
        """Overwrite key only while it still has this ETag (a conditional PUT); False when it changed."""
        try:
            with self._errors(key):
                self.client.put_object(Bucket=self._bucket, Key=key, Body=data, IfMatch=f'"{etag}"')
            return True
        except FileExistsError:  # 412: changed since it was read
            return False
        except FileNotFoundError:
            return False
        except OSError as exc:
            if "NotImplemented" not in str(exc) and "InvalidArgument" not in str(exc):
                raise
        if not same_object(self.observe(key), None, etag):  # no conditional PUT here: check, then write
            return False
        with self._errors(key):
            self.client.put_object(Bucket=self._bucket, Key=key, Body=data)
        return True

    def delete(self, key: str) -> None:
        with self._errors(key):
            self.client.delete_object(Bucket=self._bucket, Key=key)

    def delete_many(self, keys: Sequence[str]) -> list[tuple[str, str]]:
        """Delete in batches of at most 1,000 keys; returns (key, error) for each key that failed."""
        failed: list[tuple[str, str]] = []
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start:start + DELETE_BATCH]
            try:
                with self._errors():
                    reply = self.client.delete_objects(
                        Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            except OSError as exc:
                failed.extend((k, str(exc)) for k in batch)
                continue
            failed.extend((e.get("Key", ""), f"{e.get('Code', '')}: {e.get('Message', '')}") for e in reply.get("Errors", []))
        return failed

    def is_image_content(self, key: str) -> bool:
        from .loading import sniff_image

        try:
            with self._errors(key):
                head = self.client.get_object(Bucket=self._bucket, Key=key, Range="bytes=0-15")["Body"].read()
        except OSError:
            return False
        return sniff_image(head)

    def observe_many(self, keys: Sequence[str]) -> dict[str, ObjectInfo | None]:
        """Each folder asked for many keys is listed over their key range only (a request per 1,000 objects);
        what the range did not cover, and folders asked for a few keys, are HEADs in threads."""
        out: dict[str, ObjectInfo | None] = {}
        heads: list[str] = []
        for folder, group in _by_folder(keys).items():
            if len(group) < 8:
                heads.extend(group)
                continue
            found, covered = self._list_range(folder, group, pages=len(group) // 1000 + 3)
            for key in group:
                if key in found:
                    out[key] = found[key]
                elif covered is not None and key <= covered:
                    out[key] = None  # inside the range the listing read: not there
                else:
                    heads.append(key)
        with cf.ThreadPoolExecutor(self.move_threads) as pool:
            out.update(zip(heads, pool.map(self.observe, heads)))
        return out

    # -- the steps of a move (see segregator.storage) --------------------------------------------------------
    def fresh_folders(self, folders: Sequence[str]) -> set[str]:
        """Folders with no object under them yet: one LIST of one key each."""
        fresh = set()
        for folder in folders:
            with self._errors(folder):
                reply = self.client.list_objects_v2(Bucket=self._bucket, Prefix=normalise_prefix(folder), MaxKeys=1)
            if not reply.get("KeyCount"):
                fresh.add(folder)
        return fresh

    def prepare(self, source: ObjectInfo, target: str, method: str, part: str, fresh: bool) -> dict:
        """Outside a folder that was empty when the run began, a name is tried only after a HEAD found it
        free: an intent then proves the name was free, so a copy found there later with the source's bytes is
        this run's (a pre-existing twin never is)."""
        if not fresh and self.observe(target) is not None:
            raise FileExistsError(f"already exists: {self._bucket}/{target}")
        return {}

    def _copy(self, source: ObjectInfo, target: str) -> str:
        """One server-side copy that never overwrites and copies only the planned version of the source;
        returns the reply's ETag. Servers without conditional copies get a check first."""
        args = {"Bucket": self._bucket, "Key": target, "CopySource": {"Bucket": self._bucket, "Key": source.key}}
        if self._conditional:
            try:
                with self._errors(target):
                    reply = self.client.copy_object(**args, IfNoneMatch="*", CopySourceIfMatch=f'"{source.etag}"')
                return reply.get("CopyObjectResult", {}).get("ETag", "").strip('"')
            except OSError as exc:
                if "NotImplemented" not in str(exc) and "InvalidArgument" not in str(exc):
                    raise
                self._conditional = False  # this server has no conditional copy: check first instead
        if self.observe(target) is not None:
            raise FileExistsError(f"already exists: {self._bucket}/{target}")
        if not same_object(self.observe(source.key), source.size, source.version):
            raise SourceChanged(f"{source.key} changed since it was listed")
        with self._errors(target):
            reply = self.client.copy_object(**args)
        return reply.get("CopyObjectResult", {}).get("ETag", "").strip('"')

    def _holds(self, copy: ObjectInfo | None, source: ObjectInfo) -> bool:
        """The copy holds the source's bytes: same size and ETag where both are MD5s, else the same MD5."""
        if copy is None or copy.size != source.size:
            return False
        if "-" not in copy.etag and "-" not in source.etag and copy.etag and source.etag:
            return copy.etag == source.etag
        return self.checksum(copy.key) == (source.etag if "-" not in source.etag else self.checksum(source.key))

    def place(self, source: ObjectInfo, target: str, method: str, extra: dict) -> ObjectInfo:
        try:
            etag = self._copy(source, target)
        except FileExistsError as exc:  # a 412: the name is taken, or the source is not the planned version
            now_source = self.observe(source.key)
            if now_source is None:
                raise FileNotFoundError(f"not found: {source.key}") from None
            if not same_object(now_source, source.size, source.version):
                raise SourceChanged(f"{source.key} changed since it was listed") from None
            existing = self.observe(target)
            if existing is None:
                raise OSError(f"the copy to {target} was refused; try again") from None
            if getattr(exc, "retried", False) and self._holds(existing, source):
                return existing  # an earlier attempt of this very copy landed, its reply lost (the name was free)
            raise
        if etag and "-" not in etag and etag == source.etag:
            return ObjectInfo(target, source.size, time.time(), etag, etag)  # the reply proves the copy
        copy = self.observe(target)
        if not self._holds(copy, source):
            self.discard(copy) if copy else None
            raise OSError(f"the copy of {source.key} to {target} does not match the source; source kept")
        return copy

    def claim(self, source: ObjectInfo, target: str, method: str, extra: dict) -> ObjectInfo | None:
        existing = self.observe(target)
        if existing is None:
            return None
        if self._holds(existing, source):  # the intent proves the name was free before (see prepare)
            return existing
        raise FileExistsError(f"already exists: {self._bucket}/{target}")

    def _conditional_deletes(self) -> bool:
        """Whether this server honours an ETag per key in DeleteObjects (a delete refused when the object
        changed): probed once, on an object of our own, and trusted only when the refusal is seen."""
        if self._delete_if_match is None:
            probe = f".segregator/probe-{os.getpid()}-{time.time_ns()}"
            try:
                self.write(probe, b"probe")
                with self._errors(probe):
                    reply = self.client.delete_objects(Bucket=self._bucket, Delete={
                        "Objects": [{"Key": probe, "ETag": '"00000000000000000000000000000000"'}], "Quiet": True})
                refused = any(e.get("Code") == "PreconditionFailed" for e in reply.get("Errors", []))
                self._delete_if_match = refused and self.observe(probe) is not None
            except OSError:
                self._delete_if_match = False
            finally:
                try:
                    self.delete(probe)
                except OSError:
                    pass
        return self._delete_if_match

    def remove_sources(self, removals: Sequence[Removal]) -> list[tuple[str, str]]:
        """Right before one batched delete: each copy is looked up (HEAD, in parallel) and must still be the
        copy made; each source is deleted only if it still has the ETag that was copied: by the server itself
        (an ETag per key in DeleteObjects) where it honours that, else checked by a HEAD just before."""
        conditional = self._conditional_deletes()
        listed = self._listed([r.copy.key for r in removals])

        def check(r: Removal) -> tuple[str, str] | None:
            try:
                now_copy = listed.get(r.copy.key) or self.observe(r.copy.key)
                if not same_object(now_copy, r.copy.size, r.copy.version):
                    return COPY_GONE, f"the copy {r.copy.key} was removed or changed before the source could be " \
                                      f"deleted: the source was kept"
                if conditional:
                    return None
                now = self.observe(r.source.key)
                if now is None:
                    return REMOVED, ""
                if not same_object(now, r.source.size, r.source.version):
                    return SOURCE_CHANGED, self._changed(r)
                return None
            except OSError as exc:
                return NOT_DELETED, str(exc)

        with cf.ThreadPoolExecutor(min(self.move_threads, max(1, len(removals)))) as pool:
            out: list[tuple[str, str] | None] = list(pool.map(check, removals))
        todo = [i for i, c in enumerate(out) if c is None]
        for start in range(0, len(todo), DELETE_BATCH):
            batch = todo[start:start + DELETE_BATCH]
            objects = [{"Key": removals[i].source.key, **({"ETag": f'"{removals[i].source.etag}"'} if conditional else {})}
                       for i in batch]
            try:
                with self._errors():
                    reply = self.client.delete_objects(Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})
            except OSError as exc:
                for i in batch:
                    out[i] = (NOT_DELETED, str(exc))
                continue
            errors = {e.get("Key", ""): e for e in reply.get("Errors", [])}
            for i in batch:
                e = errors.get(removals[i].source.key)
                if e is None or e.get("Code") == "NoSuchKey":
                    out[i] = (REMOVED, "")
                elif e.get("Code") == "PreconditionFailed":
                    out[i] = (SOURCE_CHANGED, self._changed(removals[i]))
                else:
                    out[i] = (NOT_DELETED, f"{e.get('Code', '')}: {e.get('Message', '')}")
        return out  # type: ignore[return-value]

    def _listed(self, keys: Sequence[str], pages: int = 2) -> dict[str, ObjectInfo]:
        """The objects among keys that a listing of their key range shows now (a LIST of up to 1,000 objects
        per request instead of a HEAD each). Only what the listing shows counts: the rest is looked up."""
        out: dict[str, ObjectInfo] = {}
        for folder, group in _by_folder(keys).items():
            if len(group) >= 8:  # a few HEADs cost less than a listing that may hold other objects
                out.update(self._list_range(folder, group, pages)[0])
        return out

    def _list_range(self, folder: str, group: Sequence[str], pages: int) -> tuple[dict[str, ObjectInfo], str | None]:
        """List the folder (not its subfolders) from the smallest of the keys to the largest, at most `pages`
        requests. Returns the keys found, and the last key up to which the listing is complete (None: not even
        the first page reached the range)."""
        wanted, lo, hi = set(group), min(group), max(group)
        start = lo[:-1] + chr(ord(lo[-1]) - 1) + "\U0010ffff" if ord(lo[-1]) > 0 else lo[:-1]
        kwargs = {"Bucket": self._bucket, "Prefix": folder, "Delimiter": "/", "StartAfter": start, "MaxKeys": 1000}
        found: dict[str, ObjectInfo] = {}
        covered: str | None = None
        for _ in range(pages):
            with self._errors(folder):
                reply = self.client.list_objects_v2(**kwargs)
            contents = reply.get("Contents", [])
            for obj in contents:
                if obj["Key"] in wanted:
                    etag = obj.get("ETag", "").strip('"')
                    found[obj["Key"]] = ObjectInfo(obj["Key"], int(obj["Size"]), obj["LastModified"].timestamp(), etag, etag)
            if not reply.get("IsTruncated"):
                return found, hi  # the folder ends before (or at) the range's end: all of it was read
            if contents:
                covered = contents[-1]["Key"]
                if covered >= hi:
                    return found, hi
            kwargs["ContinuationToken"] = reply["NextContinuationToken"]
        return found, covered

    @staticmethod
    def _changed(r: Removal) -> str:
        return (f"{r.source.key} changed after it was copied: it was left where it is, and the copy of the earlier "
                f"version is at {r.copy.key}")

    def discard(self, copy: ObjectInfo) -> bool:
        try:
            if same_object(self.observe(copy.key), copy.size, copy.version):
                self.delete(copy.key)
                return True
        except OSError:
            pass
        return False

    def presigned_url(self, key: str, expires: int | None = None) -> str:
        """A GET URL for previews that expires after `expires` seconds (default R2_PRESIGN_SECONDS or 15 minutes;
        1 s to 7 days)."""
        expires = self.config.presign_seconds if expires is None else expires
        if not 1 <= expires <= 7 * 24 * 3600:
            raise ValueError("expiry must be between 1 second and 7 days")
        with self._errors(key):
            return self.client.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                                      ExpiresIn=expires)


def _by_folder(keys: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in keys:
        out.setdefault(key.rsplit("/", 1)[0] + "/" if "/" in key else "", []).append(key)
    return out


def parse_r2_url(spec: str) -> tuple[str, str]:
    """'r2://bucket/some/prefix' -> ('bucket', 'some/prefix/')."""
    rest = spec[len("r2://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {spec!r} (expected r2://BUCKET/PREFIX)")
    return bucket, normalise_prefix(prefix)
