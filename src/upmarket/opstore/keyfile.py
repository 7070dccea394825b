"""The system's secret key, kept outside the warehouse.

A key stored beside the data it protects protects nothing: whoever copies the warehouse file
would hold both the pseudonyms and the key that recomputes them from guessed ids. So the key
lives in the environment or in a file of its own, readable by its owner only (OWASP
Cryptographic Storage Cheat Sheet, "Key Storage": keys apart from the data they protect, with
the least access possible; PIPL art. 51 pseudonymisation as a security measure).

Where it comes from, first found wins:

1. `UPMARKET_PSEUDONYM_KEY`: the key itself (hex or base64 text, used as given);
2. `UPMARKET_KEY_FILE`: the path of the key file;
3. beside a SQLite operational store: `upmarket.key` in the store file's folder;
4. otherwise (PostgreSQL, an in-memory store): `$XDG_CONFIG_HOME/upmarket/upmarket.key`
   (`~/.config/upmarket/upmarket.key`).

A missing file is created on first use with 256 random bits and permissions 0600; an existing
file that others may read is refused. Several keys are derived from this one material with
distinct labels (`derive`), so one file serves pseudonyms and the suppression list without the
one revealing the other.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from upmarket.errors import UpmarketError

KEY_ENV = "UPMARKET_PSEUDONYM_KEY"
FILE_ENV = "UPMARKET_KEY_FILE"
FILE_NAME = "upmarket.key"


class KeyFileError(UpmarketError):
    """The key file cannot be read, created or trusted."""


def key_path(store_url: str | None = None) -> Path:
    """Where the key file is for the operational store at `store_url` (default: the configured
    one), following the order in the module's docstring (the environment key aside)."""
    if os.environ.get(FILE_ENV):
        return Path(os.environ[FILE_ENV]).expanduser()
    from upmarket.opstore.store import default_url

    url = store_url or default_url()
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///").partition("?")[0]
        if path and path != ":memory:":
            return Path(path).expanduser().resolve().parent / FILE_NAME
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "upmarket" / FILE_NAME


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError("err.keyfile_open", path=path, mode=f"{stat.S_IMODE(mode):o}")
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise KeyFileError("err.keyfile_short", path=path, n=len(value))
    return value.encode()


def _write_new(path: Path, value: str) -> bool:
    """Create `path` holding `value` with mode 0600, atomically: False when it already exists
    (another process made it first: theirs is the key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise KeyFileError("err.keyfile_create", path=path, reason=exc.strerror,
                           file_env=FILE_ENV, key_env=KEY_ENV) from exc
    try:
        os.write(fd, (value + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def master_key(store_url: str | None = None, *, create: bool = True,
               adopt: str | None = None) -> bytes | None:
    """The key material: the environment's, else the key file's, created when missing (with
    `adopt` as its content when given: a key moved in from elsewhere, so what was computed
    with it stays valid; else 256 random bits). With `create` False a missing file gives None.
    """
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()  # as given: earlier pseudonyms stay valid
    path = key_path(store_url)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise KeyFileError("err.keyfile_read", path=path, reason=exc.strerror) from exc
    if not create and adopt is None:
        return None
    _write_new(path, adopt or secrets.token_hex(32))
    return _read(path)


def file_holds(store_url: str | None = None) -> bool:
    """True when the key comes from the environment or an existing key file."""
    return bool(os.environ.get(KEY_ENV)) or key_path(store_url).exists()


def derive(material: bytes, label: str) -> bytes:
    """A key for one purpose (`label`) from the key material: HMAC-SHA256(material, label), as
    HKDF's expand step does (RFC 5869), so keys for different purposes are independent."""
    return hmac.new(material, label.encode(), hashlib.sha256).digest()
