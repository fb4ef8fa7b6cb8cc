"""Field-level encryption at rest: AES-256-GCM with versioned keys, plus HMAC blind indexes.

Tokens look like ``v2:<base64url(nonce12 + ciphertext + tag16)>``; the version names the key that
encrypted them, so old tokens keep decrypting after `rotate_key()` and `loancrm rotate-field-key`
re-encrypts them with the current key at leisure. The empty string is stored as the empty string, so
a blank field stays blank (and ``filter(field="")`` still works).

Where the keys come from (`get_keyring()`):

1. ``LOANCRM_FIELD_KEY`` in the environment: either one base64 (urlsafe or standard) 32-byte key,
   which becomes key version 1 with the blind-index key derived from it by HKDF-SHA256, or a JSON
   keyring in the same format as the file below (``index_key`` may then be left out: it is derived
   from key 1 exactly as in the one-key form, so moving from one key to a JSON keyring keeps every
   blind index valid). Keys from the environment are never rotated by the app.
2. Otherwise ``DATA_DIR / "field_key.json"``, created on first use with mode 0600::

       {"current": 1, "keys": {"1": "<base64>"}, "index_key": "<base64>"}

   Back this file up with the database: without it the encrypted columns cannot be read.

The blind-index key is separate from the encryption keys and is never rotated, so indexes stay valid
across rotations. Encrypted columns cannot be searched, sorted or compared in SQL; store
``blind_index(normalised_value)`` in a separate indexed column and search that for exact matches.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models.lookups import Exact, IsNull

try:  # POSIX only; without it concurrent rotations are merely not serialised.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

logger = logging.getLogger(__name__)

ENV_VAR = "LOANCRM_FIELD_KEY"
KEY_FILENAME = "field_key.json"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
ASSOCIATED_DATA = b"loancrm"
INDEX_KEY_INFO = b"loancrm blind index"
BLIND_INDEX_HEX_CHARS = 32


@dataclass(frozen=True)
class Keyring:
    """The AES keys by version, which one encrypts new values, and the (unrotated) blind-index key."""

    current_version: int
    keys: dict[int, bytes] = field(repr=False)
    index_key: bytes = field(repr=False)
    source: str = "file"  # "env" or "file"
    path: Path | None = None  # the key file, when source == "file"
    _ciphers: dict[int, AESGCM] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.current_version not in self.keys:
            raise ImproperlyConfigured(
                f"Field keyring: current key version {self.current_version} is missing"
            )
        for version, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise ImproperlyConfigured(f"Field keyring: key version {version} is not {KEY_BYTES} bytes")
            self._ciphers[version] = AESGCM(key)
        if len(self.index_key) != KEY_BYTES:
            raise ImproperlyConfigured(f"Field keyring: the blind-index key is not {KEY_BYTES} bytes")

    def cipher(self, version: int) -> AESGCM | None:
        return self._ciphers.get(version)


# ---------------------------------------------------------------------------------------------------
# Loading and caching the keyring


_cache: Keyring | None = None
_lock = threading.RLock()


def _b64decode(text: str) -> bytes:
    """Decode urlsafe or standard base64, padded or not; reject anything else."""
    text = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    text += "=" * (-len(text) % 4)
    return base64.b64decode(text, altchars=b"-_", validate=True)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _derive_index_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=INDEX_KEY_INFO).derive(key)


def _parse_keyring(data: object, *, where: str, source: str, path: Path | None = None) -> Keyring:
    try:
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        current = data["current"]
        if not isinstance(current, int) or isinstance(current, bool):
            raise TypeError('"current" is not an integer')
        raw_keys = data["keys"]
        if not isinstance(raw_keys, dict) or not raw_keys:
            raise TypeError('"keys" is not a non-empty object')
        keys = {int(version): _b64decode(value) for version, value in raw_keys.items()}
        if "index_key" in data:
            index_key = _b64decode(data["index_key"])
        elif 1 in keys:
            index_key = _derive_index_key(keys[1])
        else:
            raise KeyError("index_key")
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise ImproperlyConfigured(f"Field keyring in {where} is malformed: {exc!r}") from exc
    try:
        return Keyring(current_version=current, keys=keys, index_key=index_key, source=source, path=path)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{exc} (in {where})") from None


def _keyring_from_env(value: str) -> Keyring:
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{ENV_VAR} looks like JSON but does not parse: {exc}") from None
        return _parse_keyring(data, where=ENV_VAR, source="env")
    try:
        key = _b64decode(value)
    except (ValueError, binascii.Error):
        raise ImproperlyConfigured(f"{ENV_VAR} is neither base64 nor a JSON keyring") from None
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(f"{ENV_VAR} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return Keyring(current_version=1, keys={1: key}, index_key=_derive_index_key(key), source="env")


def _key_path() -> Path:
    return Path(settings.DATA_DIR) / KEY_FILENAME


def _serialise(keyring: Keyring) -> bytes:
    data = {
        "current": keyring.current_version,
        "keys": {str(v): _b64encode(k) for v, k in sorted(keyring.keys.items())},
        "index_key": _b64encode(keyring.index_key),
    }
    return (json.dumps(data, indent=2) + "\n").encode("ascii")


def _read_key_file(path: Path, *, wait: float = 5.0) -> Keyring:
    """Read the key file; a file another process has just created may still be empty, so retry briefly."""
    deadline = time.monotonic() + wait
    while True:
        raw = path.read_bytes()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            raise ImproperlyConfigured(f"Field key file {path} is not valid JSON: {exc}") from None
        keyring = _parse_keyring(data, where=str(path), source="file", path=path)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            logger.warning("Field key file %s is readable by others (mode %o); chmod 600 it", path, mode)
        return keyring


def _create_key_file(path: Path) -> Keyring | None:
    """Create the key file with a fresh keyring (0600, O_EXCL); None if it already exists."""
    keyring = Keyring(current_version=1, keys={1: os.urandom(KEY_BYTES)}, index_key=os.urandom(KEY_BYTES))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    try:
        os.write(fd, _serialise(keyring))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return Keyring(keyring.current_version, keyring.keys, keyring.index_key, source="file", path=path)


def _load_keyring() -> Keyring:
    env = os.environ.get(ENV_VAR)
    if env:
        return _keyring_from_env(env)
    path = _key_path()
    return _create_key_file(path) or _read_key_file(path)


def get_keyring() -> Keyring:
    """The process-wide keyring (loaded once; `reset_keyring_cache()` forgets it)."""
    keyring = _cache
    if keyring is None:
        with _lock:
            keyring = _cache
            if keyring is None:
                keyring = _set_cache(_load_keyring())
    return keyring


def _set_cache(keyring: Keyring | None) -> Keyring | None:
    global _cache
    _cache = keyring
    return keyring


def reset_keyring_cache() -> None:
    """Forget the cached keyring; the next use reads the environment / key file again."""
    with _lock:
        _set_cache(None)


def _on_setting_changed(*, setting, **kwargs):
    if setting == "DATA_DIR":
        reset_keyring_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="loancrm.core.crypto.reset_on_data_dir")


# ---------------------------------------------------------------------------------------------------
# Encrypting, decrypting, indexing


def encrypt_str(plaintext: str) -> str:
    """``"v<version>:<base64url(nonce + ciphertext + tag)>"`` under the current key; "" stays ""."""
    if plaintext == "":
        return ""
    if not isinstance(plaintext, str):
        raise TypeError(f"encrypt_str() takes a str, not {type(plaintext).__name__}")
    keyring = get_keyring()
    version = keyring.current_version
    nonce = os.urandom(NONCE_BYTES)
    sealed = keyring.cipher(version).encrypt(nonce, plaintext.encode("utf-8"), ASSOCIATED_DATA)
    return f"v{version}:{_b64encode(nonce + sealed)}"


def token_version(token: str) -> int:
    """The key version a token was encrypted with; ValueError if it is not a token."""
    head, sep, _ = token.partition(":")
    digits = head[1:]
    if not sep or head[:1] != "v" or not (digits.isascii() and digits.isdigit()):
        raise ValueError("Not an encrypted field token (expected 'v<version>:<base64>')")
    return int(digits)


def decrypt_str(token: str) -> str:
    """The plaintext of a token from `encrypt_str`; "" stays "". ValueError if unreadable or tampered."""
    if token == "":
        return ""
    if not isinstance(token, str):
        raise TypeError(f"decrypt_str() takes a str, not {type(token).__name__}")
    version = token_version(token)
    keyring = get_keyring()
    cipher = keyring.cipher(version)
    if cipher is None and keyring.source == "file":
        # Another process may have rotated the key since this one loaded the file.
        with _lock:
            if _cache is keyring:
                _set_cache(None)
        keyring = get_keyring()
        cipher = keyring.cipher(version)
    if cipher is None:
        raise ValueError(f"Encrypted field token uses unknown key version {version}")
    try:
        blob = _b64decode(token.partition(":")[2])
    except (ValueError, binascii.Error):
        raise ValueError("Encrypted field token is not valid base64") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise ValueError("Encrypted field token is too short")
    try:
        plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], ASSOCIATED_DATA)
    except InvalidTag:
        raise ValueError(
            f"Encrypted field token failed authentication (tampered, or key version {version} is wrong)"
        ) from None
    return plain.decode("utf-8")


def blind_index(value: str) -> str:
    """Deterministic keyed hash for exact-match search: 32 hex chars of HMAC-SHA256; "" stays "".

    Normalise first (strip, fold case, canonical phone format, …): only identical strings match.
    """
    if value == "":
        return ""
    digest = hmac.new(get_keyring().index_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:BLIND_INDEX_HEX_CHARS]


# ---------------------------------------------------------------------------------------------------
# Rotation


@contextlib.contextmanager
def _file_lock(path: Path):
    with _lock:
        if fcntl is None:  # pragma: no cover
            yield
            return
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _write_key_file_atomically(path: Path, keyring: Keyring) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_serialise(keyring))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def rotate_key() -> int:
    """Add a new random key as the current one in the key file and return its version.

    Old keys are kept (old tokens still decrypt); the blind-index key is unchanged. Refused when the
    keys come from ``LOANCRM_FIELD_KEY``: rotate those by editing the environment's JSON keyring.
    Other running processes pick the new key up when restarted (they still decrypt new tokens).
    """
    if os.environ.get(ENV_VAR) or get_keyring().source == "env":
        raise RuntimeError(
            f"The field keys come from the environment variable {ENV_VAR}; rotate them there "
            '(JSON keyring: add a key and raise "current"), not with rotate_key()'
        )
    path = _key_path()
    with _file_lock(path):
        old = _create_key_file(path) or _read_key_file(path)  # fresh from disk, not the cache
        version = max(old.keys) + 1
        new = Keyring(
            current_version=version,
            keys={**old.keys, version: os.urandom(KEY_BYTES)},
            index_key=old.index_key,
            source="file",
            path=path,
        )
        _write_key_file_atomically(path, new)
        _set_cache(new)
    return version


def reencrypt_token(token: str) -> str | None:
    """A fresh token under the current key for a token under an older one; None if nothing to do."""
    if token == "" or token_version(token) == get_keyring().current_version:
        return None
    return encrypt_str(decrypt_str(token))


# ---------------------------------------------------------------------------------------------------
# The model field


class _EncryptedExact(Exact):
    """``field=""`` only: ciphertexts are randomised, so equality with anything else never matches."""

    def get_prep_lookup(self):
        if self.rhs is not None and self.rhs != "":  # None becomes isnull
            raise FieldError(
                f"{type(self.lhs.output_field).__name__} only supports exact lookups against ''; "
                "search a blind-index column instead (loancrm.core.crypto.blind_index)"
            )
        return super().get_prep_lookup()


class Ciphertext(str):
    """A token `encrypt_str` already made; bulk writers encrypt a value once for several rows."""

    __slots__ = ()


def encrypt_once(value: str) -> str:
    if not value or isinstance(value, Ciphertext):
        return value
    return Ciphertext(encrypt_str(value))


class EncryptedTextField(models.TextField):
    """Text stored encrypted (AES-256-GCM, versioned key); Python code sees plaintext.

    Values are plaintext on model instances and in ``save()``, ``bulk_create()``, ``bulk_update()``
    and ``QuerySet.update()``; the column holds tokens from `encrypt_str` ("" stays ""). The database
    can neither search nor sort these columns: the only lookups are ``isnull`` and ``exact`` against
    ``""``; anything else raises FieldError. For exact search keep a companion column with
    ``blind_index(normalised_value)`` and filter on that. Ordering by the field sorts ciphertext.
    """

    description = "Text encrypted at rest (AES-256-GCM)"

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.unique or self.primary_key:
            errors.append(
                checks.Error(
                    "EncryptedTextField cannot be unique or a primary key (ciphertexts are randomised).",
                    hint="Put a unique constraint on a blind-index column instead.",
                    obj=self,
                    id="loancrm.E101",
                )
            )
        if self.db_index:
            errors.append(
                checks.Warning(
                    "An index on an EncryptedTextField is useless (ciphertexts are randomised).",
                    hint="Index a blind-index column instead.",
                    obj=self,
                    id="loancrm.W101",
                )
            )
        return errors

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt_str(value)

    def to_python(self, value):
        # Python-side values are always plaintext.
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def get_prep_value(self, value):
        if isinstance(value, Ciphertext):
            return str(value)
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt_str(value)

    def get_lookup(self, lookup_name):
        if lookup_name == "exact":
            return _EncryptedExact
        if lookup_name == "isnull":
            return IsNull
        return None

    def get_transform(self, name):
        return None
