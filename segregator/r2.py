"""Cloudflare R2 (S3 API) storage: the boto3 client, configuration from the environment, and R2Storage.

Every boto3 call goes through this module, and its errors leave it as the OSError family with a clear message.
Secrets never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import functools
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence
from urllib.parse import urlparse

import boto3
import botocore.exceptions
from botocore.config import Config

from .loading import is_image_name
from .storage import FolderSummary, ObjectInfo, Storage, normalise_prefix

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
def make_client(endpoint: str, access_key: str, secret_key: str):
    """One client per endpoint and key in a process, reused (boto3 clients are thread-safe)."""
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        config=client_config())


@dataclass(frozen=True)
class R2Config:
    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    bucket: str = ""
    demo: bool = False   # the local demo server, not a real account
    presign_seconds: int = PRESIGN_SECONDS

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

    @property
    def host(self) -> str:
        return urlparse(self.endpoint).netloc or self.endpoint

    def describe(self) -> str:
        """What the UI may show: the endpoint host and the first four characters of the key, never more."""
        if self.demo:
            return f"local demo bucket at {self.host}"
        return f"connected to {self.host} as {self.access_key[:4]}…"

    def client(self):
        return make_client(self.endpoint, self.access_key, self.secret_key)


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
            raise FileExistsError(f"already exists: {where}") from None
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
    move_threads = 32   # a move is one COPY waiting on the network: overlap many (the pool holds 32 connections)
    batch_deletes = True

    def __init__(self, config: R2Config, bucket: str):
        if not bucket:
            raise ValueError("no bucket given")
        self.config = config
        self._bucket = bucket
        self.client = config.client()
        self._conditional = True   # flips off when the server refuses If-None-Match on copies

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def description(self) -> str:
        return f"bucket {self._bucket} ({self.config.describe()})"

    def _errors(self, key: str = ""):
        return translate_errors(self._bucket, key, self.config.host)

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
                yield ObjectInfo(obj["Key"], int(obj["Size"]), obj["LastModified"].timestamp(), obj.get("ETag", "").strip('"'))

    def list_folders(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in self._pages(normalise_prefix(prefix), delimiter=True):
            out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return out

    def quick_scan(self, prefix: str = "", max_pages: int = 3, samples: int = 3) -> list[FolderSummary]:
        """The prefix itself and its direct subfolders, each with its image count and sample keys. Reads at
        most `max_pages` pages (1,000 keys each) per folder, so it stays fast on large buckets."""
        prefix = normalise_prefix(prefix)
        folders = [prefix] + self.list_folders(prefix)
        out = []
        for folder in folders:
            count, sample, complete = 0, [], True
            pages = 0
            for page in self._pages(folder, delimiter=True, max_pages=max_pages):
                pages += 1
                for obj in page.get("Contents", []):
                    if is_image_name(obj["Key"]):
                        count += 1
                        if len(sample) < samples:
                            sample.append(obj["Key"])
                if pages == max_pages and page.get("IsTruncated"):
                    complete = False
            out.append(FolderSummary(folder, count, tuple(sample), complete))
        return out

    # -- objects -------------------------------------------------------------------------------------------
    def info(self, key: str) -> ObjectInfo:
        with self._errors(key):
            head = self.client.head_object(Bucket=self._bucket, Key=key)
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp(), head.get("ETag", "").strip('"'))

    def read(self, key: str) -> bytes:
        with self._errors(key):
            return self.client.get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self.client.put_object(Bucket=self._bucket, Key=key, Body=data, IfNoneMatch="*")

    def _copy_new(self, src: str, dst: str) -> str | None:
        source = {"Bucket": self._bucket, "Key": src}
        if self._conditional:
            try:
                with self._errors(dst):
                    reply = self.client.copy_object(Bucket=self._bucket, Key=dst, CopySource=source, IfNoneMatch="*")
                return reply.get("CopyObjectResult", {}).get("ETag", "").strip('"') or None
            except OSError as exc:
                if "NotImplemented" not in str(exc) and "InvalidArgument" not in str(exc):
                    raise
                self._conditional = False  # this server has no conditional copy: check first instead
        if self.exists(dst):
            raise FileExistsError(f"already exists: {self._bucket}/{dst}")
        with self._errors(dst):
            reply = self.client.copy_object(Bucket=self._bucket, Key=dst, CopySource=source)
        return reply.get("CopyObjectResult", {}).get("ETag", "").strip('"') or None

    def content_id(self, info: ObjectInfo) -> str:
        return info.etag

    def same_content(self, a: ObjectInfo, b: ObjectInfo) -> bool:
        if a.size != b.size:
            return False
        if a.etag and b.etag and "-" not in a.etag and "-" not in b.etag:
            return a.etag == b.etag
        return self.checksum(a.key) == self.checksum(b.key)  # multipart ETags say nothing of content

    def verify_copy(self, source: ObjectInfo, src: str, dst: str, etag: str | None = None) -> ObjectInfo:
        """Same size, and the same ETag where both are plain MD5s (multipart ETags are not content hashes).
        When the copy's reply already carries the source's plain-MD5 ETag, that is the proof: no HEAD."""
        if etag and source.etag and "-" not in source.etag and etag == source.etag:
            return ObjectInfo(dst, source.size, time.time(), etag)
        copied = self.info(dst)
        plain = "-" not in source.etag and "-" not in copied.etag and source.etag and copied.etag
        if copied.size != source.size or (plain and copied.etag != source.etag):
            raise OSError(f"copy of {src} to {dst} does not match the source; source kept")
        return copied

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

    def presigned_url(self, key: str, expires: int | None = None) -> str:
        """A GET URL for previews that expires after `expires` seconds (default R2_PRESIGN_SECONDS or 15 minutes;
        1 s to 7 days)."""
        expires = self.config.presign_seconds if expires is None else expires
        if not 1 <= expires <= 7 * 24 * 3600:
            raise ValueError("expiry must be between 1 second and 7 days")
        with self._errors(key):
            return self.client.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                                      ExpiresIn=expires)


def parse_r2_url(spec: str) -> tuple[str, str]:
    """'r2://bucket/some/prefix' -> ('bucket', 'some/prefix/')."""
    rest = spec[len("r2://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {spec!r} (expected r2://BUCKET/PREFIX)")
    return bucket, normalise_prefix(prefix)
