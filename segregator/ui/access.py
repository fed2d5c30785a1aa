"""Who is using the app (segregator.auth): the sign-in screen, the account in the sidebar, the refusal to serve
other machines without sign-in, and what a viewer is not offered. The engine refuses a viewer's moves by itself;
the page only leaves out the controls that would be refused."""

from __future__ import annotations

import streamlit as st

from .. import auth


def _secrets() -> dict:
    """The app's secrets as Streamlit reads them ([auth], [roles]); {} when there are none. A secrets file
    that exists but cannot be read or parsed raises auth.SecretsError (Streamlit would go on without it, and
    so without the sign-in it may configure)."""
    auth.read_secrets()  # raises for a file that is there but broken
    try:
        return {name: st.secrets[name].to_dict() if hasattr(st.secrets[name], "to_dict") else st.secrets[name]
                for name in ("auth", "roles") if name in st.secrets}
    except FileNotFoundError:
        return {}
    except (KeyError, OSError, ValueError) as exc:
        raise auth.SecretsError(f"cannot read the app's secrets: {exc}") from None


def policy() -> auth.Policy:
    return auth.Policy.load(_secrets())


def _server_address() -> str:
    from streamlit import config

    return str(config.get_option("server.address") or "")


def _request_host() -> str:
    try:
        headers = st.context.headers
    except Exception:  # noqa: BLE001 - no request (AppTest): this machine
        return "127.0.0.1"
    return auth.request_host(headers)


def _sign_out_button(key: str) -> None:
    st.button("Sign out", key=key, on_click=st.logout)


def gate() -> None:
    """At the top of every page: who is here and in which role (st.session_state user / role), or a page that
    stops: the sign-in screen, "no access", or the refusal to serve without sign-in."""
    ss = st.session_state
    try:
        pol = policy()
    except (auth.SecretsError, ValueError) as exc:  # a broken secrets file is not "no sign-in"
        st.title("🗂️ AI Image Segregator")
        st.error(f"The app is not configured correctly: {exc}")
        st.stop()
    if pol.sign_in:
        if not st.user.is_logged_in:
            st.title("🗂️ AI Image Segregator")
            st.write("Sign in to sort, search and move this collection's images.")
            st.button("Sign in", type="primary", on_click=st.login, key="sign_in")
            st.stop()
        email = str(st.user.get("email") or "").strip()
        # An address the provider says it has not verified could be anyone's; one spelt like the app's own
        # users (local:..., anonymous) is not an address at all.
        unverified = st.user.get("email_verified") in (False, "false", "False")
        role = pol.role_of(email) if email and auth.plausible_address(email) and not unverified else None
        if role is None:
            st.title("🗂️ AI Image Segregator")
            why = (" The provider says this address is not verified." if email and unverified else
                   " The sign-in gave no e-mail address (the provider must grant the `email` scope)." if not email
                   else "")
            st.error(f"{email or 'This account'} has no access to this app.{why}"
                     " Ask an editor to add it to the viewers or the editors.")
            _sign_out_button("sign_out_denied")
            st.stop()
        ss["user"], ss["role"] = email, role
    else:
        refusal = auth.exposure_refusal(_server_address(), pol)
        if refusal is None and not auth.anonymous_allowed() and not auth.host_is_local(_request_host()):
            refusal = auth.exposure_refusal(_request_host(), pol)  # reached through a proxy or the network
        if refusal:
            st.title("🗂️ AI Image Segregator")
            st.error(refusal)
            st.stop()
        if auth.anonymous_allowed():
            st.warning("⚠️ No sign-in: anyone who reaches this address can use the app"
                       + (" and move, delete and empty the trash of its storage" if pol.anonymous_role == auth.EDITOR
                          else " (as a viewer)")
                       + " (SEGREGATOR_ALLOW_ANONYMOUS=1). Configure sign-in before serving it beyond this machine.")
        ss["user"], ss["role"] = auth.ANONYMOUS, pol.anonymous_role
    auth.set_user(ss["user"])


def user() -> str:
    return st.session_state.get("user") or auth.current_user()


def can_change() -> bool:
    """The user may run jobs that change storage (an editor)."""
    return st.session_state.get("role", auth.EDITOR) == auth.EDITOR


def can_act_on(job) -> bool:
    """The user may pause, cancel or resume this job: any analysis; a job that changes storage (or what every
    user shares) only as an editor. The runner checks the same (JobRunner.request, resume)."""
    return can_change() or job.kind not in auth.CHANGING_KINDS


def viewer_note(what: str) -> None:
    """In place of a control a viewer is not offered."""
    st.info(f"👁️ You are signed in as a viewer: {what} needs an editor. You can still preview and download the plan.")


def account_sidebar() -> None:
    """The signed-in user, their role and Sign out (nothing without sign-in)."""
    ss = st.session_state
    if ss.get("user") in (None, auth.ANONYMOUS):
        return
    st.caption(f"👤 {ss['user']} · {ss.get('role')}")
    _sign_out_button("sign_out")


def local_roots() -> list | None:
    """auth.local_roots() with this app's secrets."""
    return auth.local_roots(policy())


def folder_refusal(path) -> str | None:
    """Why a web user may not open this local folder (None: they may): auth.folder_refusal()."""
    return auth.folder_refusal(path, policy())


def write_blocked(storage) -> bool:
    """True (with the reason shown) when the key or account in use cannot change this storage: checked before
    a Confirm is offered, so that a read-only key is told now, not half-way through a move."""
    from ..storage import write_access

    problem = write_access(storage)
    if problem:
        st.error(f"🔒 Moving is not possible here: {problem}.")
        return True
    return False
