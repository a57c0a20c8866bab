"""The site secret and the keyed pseudonyms derived from it.

A pseudonym is an HMAC-SHA256 of the source value keyed with a secret that only the site
holds: the same site gets the same pseudonym for the same patient on every run (so a
re-export or a second batch lines up with the first), while anyone without the secret can
neither reverse a pseudonym nor confirm a guessed patient ID against it.

The secret comes from the environment variable ``MPIRAD_SITE_SECRET`` or from the file
named by ``MPIRAD_SITE_SECRET_FILE``; it is never written to any output. Without one,
:func:`load_site_secret` refuses unless an ephemeral (random, per-run) secret is asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

SECRET_ENV = "MPIRAD_SITE_SECRET"
SECRET_FILE_ENV = "MPIRAD_SITE_SECRET_FILE"
#: Shortest secret accepted, in bytes: patient IDs have little entropy, so the secret is
#: what stops a dictionary attack on the pseudonyms.
MIN_SECRET_BYTES = 16
#: Hex digits kept from the HMAC for the short pseudonyms (64 bits).
SHORT_ID_HEX_DIGITS = 16

HOW_TO_MAKE_A_SECRET = (
    "create one once per site, e.g. "
    '`python -c "import secrets; print(secrets.token_hex(32))" > ~/.mpirad_site_secret` '
    f"(then `chmod 600` it and export {SECRET_FILE_ENV}=~/.mpirad_site_secret)"
)


class SiteSecretError(ValueError):
    """The site secret is missing, ambiguous, unreadable or too short."""


@dataclass(frozen=True)
class SiteSecret:
    """The key of the site's pseudonyms.

    Attributes:
        key: the secret bytes (never shown by ``repr``).
        origin: where it came from, for messages (never the secret itself).
        ephemeral: True for a random per-run secret: pseudonyms are then not stable.
        warnings: remarks about how the secret is stored (e.g. a world-readable file).
    """

    key: bytes = field(repr=False)
    origin: str
    ephemeral: bool = False
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.key) < MIN_SECRET_BYTES:
            raise SiteSecretError(
                f"the site secret from {self.origin} is {len(self.key)} bytes long; at least "
                f"{MIN_SECRET_BYTES} are needed: {HOW_TO_MAKE_A_SECRET}"
            )

    @classmethod
    def random(cls) -> SiteSecret:
        """A fresh 32-byte random secret for one run (pseudonyms differ on every run)."""
        return cls(key=secrets.token_bytes(32), origin="an ephemeral random secret", ephemeral=True)


def load_site_secret(
    *, ephemeral: bool = False, environ: dict[str, str] | None = None
) -> SiteSecret:
    """Read the site secret from ``MPIRAD_SITE_SECRET`` or ``MPIRAD_SITE_SECRET_FILE``.

    Args:
        ephemeral: when no secret is configured, return a random per-run secret instead of
            failing (pseudonyms will not match those of any other run).
        environ: the environment to read (default :data:`os.environ`).

    Returns:
        The secret. A file secret is read as bytes with surrounding whitespace stripped.

    Raises:
        SiteSecretError: both variables are set, the file cannot be read, the secret is
            shorter than :data:`MIN_SECRET_BYTES`, or none is set and ``ephemeral`` is False.
    """
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV, "")
    file_name = env.get(SECRET_FILE_ENV, "")
    if value and file_name:
        raise SiteSecretError(
            f"both {SECRET_ENV} and {SECRET_FILE_ENV} are set; set only one so that the "
            "pseudonyms cannot silently change"
        )
    if value:
        return SiteSecret(key=value.strip().encode("utf-8"), origin=f"${SECRET_ENV}")
    if file_name:
        path = Path(file_name).expanduser()
        try:
            key = path.read_bytes().strip()
            mode = path.stat().st_mode
        except OSError as exc:
            raise SiteSecretError(
                f"cannot read the site secret file {path} (from ${SECRET_FILE_ENV}): "
                f"{exc.strerror or exc}"
            ) from None
        warnings: tuple[str, ...] = ()
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings = (
                f"the site secret file {path} is readable by other users; run `chmod 600 {path}`",
            )
        return SiteSecret(key=key, origin=f"the file {path}", warnings=warnings)
    if ephemeral:
        return SiteSecret.random()
    raise SiteSecretError(
        f"no site secret: set {SECRET_ENV} or {SECRET_FILE_ENV} ({HOW_TO_MAKE_A_SECRET}), "
        "or pass --ephemeral-secret to use a random one for this run only (pseudonymous "
        "ids will then differ from every other run)"
    )


class Pseudonymizer:
    """Keyed, stable pseudonyms for patients, studies, series, instances and UIDs.

    Every pseudonym is HMAC-SHA256(secret, ``kind`` NUL ``value``): the kind separates the
    domains, so a patient ID and a UID with the same text get unrelated pseudonyms.

    Args:
        secret: the site secret.
    """

    #: Prefix of each kind of short pseudonym (e.g. ``P3f2a...`` for a patient).
    PREFIXES: dict[str, str] = {
        "patient": "P",
        "study": "ST",
        "series": "SE",
        "instance": "I",
    }

    def __init__(self, secret: SiteSecret) -> None:
        self._key = secret.key
        self.ephemeral = secret.ephemeral

    def __repr__(self) -> str:
        return f"Pseudonymizer(ephemeral={self.ephemeral})"

    def digest(self, kind: str, value: str) -> str:
        """The full HMAC-SHA256 hex digest of ``value`` in the domain ``kind``."""
        message = kind.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def short_id(self, kind: str, value: str) -> str:
        """A short pseudonym: the kind's prefix and 16 hex digits (64 bits) of the HMAC.

        Args:
            kind: one of :attr:`PREFIXES` (``patient``, ``study``, ``series``, ``instance``).
            value: the source value (e.g. the PatientID); must not be empty.

        Raises:
            ValueError: for an unknown kind or an empty value.
        """
        if kind not in self.PREFIXES:
            raise ValueError(f"unknown pseudonym kind {kind!r}; use one of {sorted(self.PREFIXES)}")
        if not value:
            raise ValueError(f"cannot make a {kind} pseudonym of an empty value")
        return self.PREFIXES[kind] + self.digest(kind, value)[:SHORT_ID_HEX_DIGITS]

    def patient_id(self, patient_id: str) -> str:
        """The pseudonymous patient id, e.g. ``P0c1d2e3f40516273``."""
        return self.short_id("patient", patient_id)

    def uid(self, uid: str) -> str:
        """A replacement DICOM UID (``2.25.<integer>``, at most 44 characters).

        The same source UID always maps to the same replacement (Annex E action ``U``:
        internally consistent), and the replacement reveals nothing of the source.
        """
        # 128 bits of the HMAC as a decimal integer under the 2.25 arc (PS3.5 B.2).
        return f"2.25.{int(self.digest('uid', uid.strip())[:32], 16)}"
