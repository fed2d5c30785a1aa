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
# The job kinds that change storage: an editor's only. (Analyses, search and teach build plans and indexes in
# the app's own state; they never write to the folder or bucket.)
CHANGING_KINDS = ("apply", "resume", "undo", "empty_trash")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class NotAllowed(PermissionError):
    """A user's role does not allow what was asked (a one-line message for the user)."""


def local_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid())
    return f"local:{name}"


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


def read_secrets(paths: list[Path] | None = None) -> dict:
    """The merged secrets (a later file's sections replace an earlier one's). An unreadable file is skipped,
    as Streamlit does."""
    merged: dict = {}
    for path in paths if paths is not None else secrets_files():
        try:
            with open(path, "rb") as fh:
                merged.update(tomllib.load(fh))
        except (OSError, tomllib.TOMLDecodeError):
            continue
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
        """The user's role, or None: no access."""
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
    role = (pol or policy()).role_of(user)
    if role is None:
        raise NotAllowed(f"{user} has no access to this app")
    if kind in CHANGING_KINDS and role != EDITOR:
        raise NotAllowed(f"{user} is a {role}: moving, copying, deleting, undoing and emptying the trash need an "
                         "editor (ask one to add you to the editors)")
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


def host_is_local(host: str | None) -> bool:
    """A request's Host header names this machine (a browser here, not one through a proxy or the network)."""
    host = (host or "").strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return is_loopback(host)
