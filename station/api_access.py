"""Who may call the online API: the portals' bearer tokens.

A caller's `submitted_at` becomes a candidate's priority date, so the API is closed unless
the server is given at least one token: env CSQ_API_TOKEN, several separated by commas so
that a portal can move to a new token before the old one is withdrawn. Without one, every
API call is refused (503 naming the setting) and the server says so at start. For a
developer's machine only, CSQ_API_INSECURE_DEV=1 (or `csq serve --insecure-api`) opens it
without a token, loudly: a warning at start and a header on every answer.

A token is never stored or logged: the audit trail names the token that sent a submission
by its id, the first 8 hex digits of its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from station.http_errors import HttpProblem

TOKEN_ENV = "CSQ_API_TOKEN"
INSECURE_ENV = "CSQ_API_INSECURE_DEV"
INSECURE_HEADER = (b"x-csq-insecure-api", b"no API token is required: development only, never in production")
INSECURE_CALLER = "insecure-dev"  # the token id recorded when no token was asked for


def token_id(token: str) -> str:
    """What the audit trail records of a token: enough to tell which portal, useless to a thief."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class ApiAccess:
    digests: tuple[bytes, ...]  # SHA-256 of each accepted token
    ids: tuple[str, ...]  # token_id of each, in the same order
    insecure: bool  # no token configured and the development flag set

    @classmethod
    def from_env(cls, environ=None) -> "ApiAccess":
        environ = os.environ if environ is None else environ
        tokens = [t.strip() for t in environ.get(TOKEN_ENV, "").split(",") if t.strip()]
        digests = tuple(hashlib.sha256(t.encode("utf-8")).digest() for t in tokens)
        return cls(digests, tuple(token_id(t) for t in tokens),
                   insecure=not tokens and environ.get(INSECURE_ENV, "").strip().lower() in ("1", "true", "yes"))

    @property
    def closed(self) -> bool:
        return not self.digests and not self.insecure

    def startup_line(self) -> str:
        """The one line the server prints on stderr at start about its API."""
        if self.insecure:
            return (f"csq: WARNING: the online API accepts submissions WITHOUT a token ({INSECURE_ENV}=1): "
                    f"anyone who reaches this server can register applications; development only")
        if self.closed:
            return (f"csq: the online API is closed: set {TOKEN_ENV}=<token>[,<next token>] to accept a portal's "
                    f"submissions (staff pages work without it)")
        return f"csq: the online API accepts {len(self.digests)} token(s): {', '.join(self.ids)}"

    def caller(self, authorization: str | None) -> str:
        """The id of the token in this `Authorization` header; refuses (503 closed, 401 wrong)."""
        if self.insecure:
            return INSECURE_CALLER
        if self.closed:
            raise HttpProblem(503, f"the online API is closed: the server has no {TOKEN_ENV} configured; "
                                   f"its administrator must set it (comma-separated for several tokens)",
                              headers={"Retry-After": "3600"})
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and given.strip():
            digest = hashlib.sha256(given.strip().encode("utf-8")).digest()
            found = None
            for known, ident in zip(self.digests, self.ids):  # every one compared: no timing hint of which
                if hmac.compare_digest(digest, known):
                    found = ident
            if found is not None:
                return found
        raise HttpProblem(401, f"missing or wrong API token: send Authorization: Bearer <token> (one of {TOKEN_ENV})",
                          headers={"WWW-Authenticate": 'Bearer realm="csq-intake"'})
