"""Who may do what: the signed-in user's role, the engine's check before any job that changes storage, the
user recorded in jobs and session-log events, and the rule that an app without sign-in serves only this machine.

Users are strings:
- an e-mail address: signed in through OpenID Connect (the web app with `[auth]` in secrets.toml);
- `anonymous`: the web app without sign-in (only on loopback, or with SEGREGATOR_ALLOW_ANONYMOUS=1);
- `local:<name>`: the command line (and library calls) of the account `<name>` on this machine: whoever holds
  the shell holds the storage keys too, so it is an editor.

Roles, from configuration (never from the page): **editors** run every job; **viewers** browse, scan, analyse,
search and download plans, and any job that changes storage (moves, copies, the gallery's delete, resume, undo,
emptying the trash) is refused for them here, in the engine, whatever the page draws. A signed-in address in
neither list has no access at all (a provider like Google lets anyone sign in).

Configuration: `[roles]` in Streamlit's secrets.toml (the same files Streamlit reads `[auth]` from), or the
environment (it wins): SEGREGATOR_EDITORS / SEGREGATOR_VIEWERS, comma-separated. An entry is an address
(`ana@example.com`), a domain (`@example.com`), or `*` (anyone who signs in).
"""

from __future__ import annotations

import contextvars
import getpass
import ipaddress
import os
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

EDITOR, VIEWER = "editor", "viewer"
ANONYMOUS = "anonymous"
# The job kinds that change storage, or what every user of the app shares (a taught classifier, the demo
# copy): an editor's only. (Analyses and search build plans and indexes of their own; they never write to the
# folder or bucket.)
CHANGING_KINDS = ("apply", "resume", "undo", "empty_trash", "teach", "restore_demo")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class NotAllowed(PermissionError):
    """A user's role does not allow what was asked (a one-line message for the user)."""


def os_user() -> str:
    """This process's account name (its uid when it has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def local_user() -> str:
    return f"local:{os_user()}"


_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("segregator_user", default=None)


def current_user() -> str:
    """Who the work in this thread is done for: set by the page, by a job's runner, else this machine's user."""
    return _acting.get() or local_user()


@contextmanager
def acting(user: str | None):
    """Do the work in this block for `user` (recorded in jobs and session-log events)."""
    token = _acting.set(user)
    try:
        yield
    finally:
        _acting.reset(token)


def set_user(user: str | None) -> None:
    """For the rest of this thread's work (a Streamlit script run: the page's user)."""
    _acting.set(user)


# ------------------------------------------------------------------ configuration

def secrets_files() -> list[Path]:
    """The secrets.toml files Streamlit reads (its `secrets.files` option: ~/.streamlit and the app's folder,
    or what the server was started with), in order; later ones win."""
    try:
        from streamlit import config

        paths = config.get_option("secrets.files")
    except Exception:  # noqa: BLE001 - Streamlit's config not loadable: its default places
        paths = [str(Path.home() / ".streamlit" / "secrets.toml"), str(Path.cwd() / ".streamlit" / "secrets.toml")]
    return [Path(p).expanduser() for p in paths]


class SecretsError(ValueError):
    """A secrets file that exists but cannot be read or parsed: sign-in may be configured in it, so the app
    must not go on as if it were not."""


def read_secrets(paths: list[Path] | None = None) -> dict:
    """The merged secrets (a later file's sections replace an earlier one's). A missing file is skipped; one
    that exists but cannot be read or parsed raises SecretsError (serving without the sign-in it may hold
    would open the app to anyone)."""
    merged: dict = {}
    for path in paths if paths is not None else secrets_files():
        try:
            with open(path, "rb") as fh:
                merged.update(tomllib.load(fh))
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SecretsError(f"cannot read the secrets file {path}: {exc}. Fix it (or remove it) and start "
                               "the app again: it may hold the sign-in ([auth]) configuration") from None
    return merged


def _entries(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip().lower() for v in value if str(v).strip()]


@dataclass(frozen=True)
class Policy:
    """Sign-in and roles as configured."""

    sign_in: bool = False                 # [auth] is configured: users sign in
    editors: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    anonymous_role: str = EDITOR          # without sign-in: what an anonymous user may do

    @classmethod
    def load(cls, secrets: dict | None = None) -> "Policy":
        secrets = read_secrets() if secrets is None else secrets
        roles = secrets.get("roles") or {}
        editors = _entries(os.environ.get("SEGREGATOR_EDITORS")) or _entries(roles.get("editors"))
        viewers = _entries(os.environ.get("SEGREGATOR_VIEWERS")) or _entries(roles.get("viewers"))
        anonymous = (os.environ.get("SEGREGATOR_ANONYMOUS_ROLE") or EDITOR).strip().lower()
        if anonymous not in (EDITOR, VIEWER):
            raise ValueError(f"SEGREGATOR_ANONYMOUS_ROLE must be {EDITOR} or {VIEWER}, not {anonymous!r}")
        return cls(sign_in=bool(secrets.get("auth")), editors=tuple(editors), viewers=tuple(viewers),
                   anonymous_role=anonymous)

    def role_of(self, user: str | None) -> str | None:
        """The user's role, or None: no access. (A web page's user is only ever an address or `anonymous`:
        access.gate() refuses a sign-in whose address is spelt like anything else.)"""
        if not user:
            return None
        if user.startswith("local:"):
            return EDITOR
        if user == ANONYMOUS:
            return None if self.sign_in else self.anonymous_role
        email = user.strip().lower()
        if _matches(email, self.editors):
            return EDITOR
        if _matches(email, self.viewers):
            return VIEWER
        return None


def _matches(email: str, entries: tuple[str, ...]) -> bool:
    domain = "@" + email.rpartition("@")[2] if "@" in email else None
    return any(e == "*" or e == email or (domain and e.lstrip("*") == domain) for e in entries)


def policy() -> Policy:
    return Policy.load()


def role_of(user: str | None) -> str | None:
    return policy().role_of(user)


def authorize(kind: str, user: str | None = None, pol: Policy | None = None) -> str:
    """Raise NotAllowed unless `user` (default: the current one) may run a job of `kind`; returns the user."""
    user = user or current_user()
    # the command line is an editor whatever the web app's configuration says (it is not even read)
    role = EDITOR if user.startswith("local:") else (pol or policy()).role_of(user)
    if role is None:
        raise NotAllowed(f"{user} has no access to this app")
    if kind in CHANGING_KINDS and role != EDITOR:
        what = {"teach": "teaching a classifier (it is shared by every user)",
                "restore_demo": "restoring the demo images"}.get(
            kind, "moving, copying, deleting, undoing and emptying the trash")
        raise NotAllowed(f"{user} is a {role}: {what} need an editor (ask one to add you to the editors)")
    return user


def plausible_address(email: str) -> bool:
    """An e-mail address as a provider gives it: one @, no spaces, and not spelt like the app's own users."""
    local, at, domain = email.partition("@")
    return (bool(at and local and domain) and "@" not in domain and not any(c.isspace() for c in email)
            and not email.lower().startswith("local:") and email.lower() != ANONYMOUS)


def is_web_user(user: str | None) -> bool:
    """A user of the web app (an address, or anonymous), not the command line of this machine's account."""
    return not (user or "").startswith("local:")


# ------------------------------------------------------------------ what a web user may reach

def local_roots(pol: Policy | None = None) -> list[Path] | None:
    """The folders under which web users may open local folders, or None (any: the app on one's own machine,
    without sign-in). SEGREGATOR_LOCAL_ROOTS (paths separated by ':'); with sign-in on and none set, only the
    folder the app starts on (SEGREGATOR_SOURCE, else the demo copy): a deployed app does not let its users
    browse the server's disk."""
    from .demo import demo_folder

    configured = [p for p in os.environ.get("SEGREGATOR_LOCAL_ROOTS", "").split(os.pathsep) if p.strip()]
    if not configured and not (pol or policy()).sign_in:
        return None
    configured = configured or [os.environ.get("SEGREGATOR_SOURCE") or str(demo_folder())]
    return [Path(os.path.expanduser(p.strip())).resolve() for p in configured]


def folder_refusal(path: Path, pol: Policy | None = None) -> str | None:
    """Why a web user may not open this local folder (None: they may)."""
    roots = local_roots(pol)
    if roots is None:
        return None
    try:
        real = Path(path).resolve()
    except OSError:
        return "this folder cannot be opened"
    if any(real == r or r in real.parents for r in roots):
        return None
    return ("this app serves local folders only under " + ", ".join(f"`{r}`" for r in roots)
            + " (SEGREGATOR_LOCAL_ROOTS)")


def require_storage(storage, user: str | None = None) -> None:
    """NotAllowed when a web user's run would work on a local folder outside the served roots (an undo or a
    resume of a run that the command line made elsewhere): the engine's check, before a run's lock."""
    user = user or current_user()
    if storage.kind == "local" and is_web_user(user):
        refusal = folder_refusal(storage.root)
        if refusal:
            raise NotAllowed(f"Refused: {refusal}")


MAX_LOCAL_WORKERS = max(2, os.cpu_count() or 1)  # a web user's local Dask cluster: at most this many processes


def cluster_refusal(cluster: str | None) -> str | None:
    """Why a web user's analysis may not run on `cluster` (None: it may). This machine's pool, a local cluster
    of at most MAX_LOCAL_WORKERS processes, or the scheduler the operator configured (SEGREGATOR_DASK_SCHEDULER):
    the app takes in what a scheduler's workers send back, so one a user could name (in the page or a link)
    could run code on the server."""
    if not cluster or cluster in ("pool", "none"):
        return None
    if cluster.startswith("local:"):
        n = cluster[len("local:"):]
        if n.isdigit() and 1 <= int(n) <= MAX_LOCAL_WORKERS:
            return None
        return f"a local cluster here has at most {MAX_LOCAL_WORKERS} worker processes"
    from .compute import SCHEDULER_ENV, cluster_spec

    configured = os.environ.get(SCHEDULER_ENV, "").strip()
    try:
        if configured and cluster_spec(configured) == cluster_spec(cluster):
            return None
    except ValueError:
        pass
    return (f"the app runs analyses only on the Dask scheduler it was started with ({SCHEDULER_ENV}"
            + (f" = {configured})" if configured else ", not set)") + "; the command line takes any --cluster")


def check_job(kind: str, user: str | None, source: str = "", params: dict | None = None,
              pol: Policy | None = None) -> str:
    """The engine's check of a job for its user, at submit and again when it runs: the role (authorize),
    and for a web user the folder (within the served roots) and where an analysis runs. Returns the user;
    NotAllowed otherwise."""
    user = authorize(kind, user, pol)
    if is_web_user(user):
        if source and not source.startswith("r2://"):
            refusal = folder_refusal(Path(source), pol)
            if refusal:
                raise NotAllowed(refusal)
        refusal = cluster_refusal((params or {}).get("cluster"))
        if refusal:
            raise NotAllowed(refusal)
    return user


# ------------------------------------------------------------------ where the app may listen

def is_loopback(address: str | None) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost, a unix socket)."""
    address = (address or "").strip().strip("[]")
    if not address:
        return False  # Streamlit's default when none is given: every interface
    if address.startswith("unix://") or address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def anonymous_allowed() -> bool:
    return os.environ.get("SEGREGATOR_ALLOW_ANONYMOUS", "").strip() == "1"


def exposure_refusal(address: str | None, pol: Policy | None = None) -> str | None:
    """Why the app must not serve on `address` (None: it may): no sign-in configured, an address other
    machines reach, and no SEGREGATOR_ALLOW_ANONYMOUS=1."""
    pol = pol or policy()
    if pol.sign_in or is_loopback(address) or anonymous_allowed():
        return None
    return (f"Refusing to serve on {address or 'every interface'} without sign-in: anyone who reaches it could move, "
            "delete and empty the trash of your storage. Configure sign-in ([auth] and [roles] in "
            ".streamlit/secrets.toml, README \"Deploying\"), or listen on 127.0.0.1, or set "
            "SEGREGATOR_ALLOW_ANONYMOUS=1 to serve without sign-in anyway.")


PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
                 "X-Forwarded-Server", "Forwarded", "X-Real-IP", "Via", "X-Original-Forwarded-For",
                 "CF-Connecting-IP", "True-Client-IP")


def request_host(headers) -> str:
    """The host a web request came for, as the local check reads it: 'proxied' when any proxy header is
    there (a proxy passes on what the visitor wrote, e.g. X-Forwarded-Host: localhost, so none of them is
    believed), else the Host header."""
    if any(headers.get(h) for h in PROXY_HEADERS):
        return "proxied"
    return headers.get("Host") or "127.0.0.1"


def host_is_local(host: str | None) -> bool:
    """A request's Host header names this machine (a browser here, not one through a proxy or the network)."""
    host = (host or "").strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return is_loopback(host)
