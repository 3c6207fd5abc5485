"""RSA keys for Alipay: loaded from config (PEM text or a file path), or generated for the sandbox."""
import os
import secrets
from pathlib import Path

from Crypto.PublicKey import RSA


def generate_keypair(bits=2048):
    """A new (PKCS#1 private PEM, SubjectPublicKeyInfo public PEM) pair, the formats the SDK loads."""
    key = RSA.generate(bits)
    return key.export_key(format="PEM", pkcs=1).decode(), key.publickey().export_key(format="PEM").decode()


def load_pem(value):
    """PEM text as given, or read from a file path."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("-----BEGIN"):
        return value
    return Path(value).read_text().strip()


def sandbox_keys(instance_path):
    """The sandbox's "Alipay" key pair and a development merchant key pair, created once under instance/.

    Gunicorn and RQ workers may all ask at once on a fresh instance folder, and each keeps the keys it got:
    a private key appears only whole and only once (a hard link that fails if another process was first),
    and the public key is derived from it, so every process holds the same pair.
    """
    folder = Path(instance_path) / "payments"
    folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for owner in ("alipay", "app"):
        private, public = folder / f"{owner}_private.pem", folder / f"{owner}_public.pem"
        fresh = not private.exists()
        if fresh:
            _create_once(private, generate_keypair()[0], 0o600)
        private_pem = private.read_text()
        if fresh or not public.exists():  # whoever made the private key, the public one is derived from it
            public_pem = RSA.import_key(private_pem).publickey().export_key(format="PEM").decode()
            _create_once(public, public_pem, 0o644, replace=True)
        else:
            public_pem = public.read_text()
        keys[f"{owner}_private"], keys[f"{owner}_public"] = private_pem, public_pem
    return keys


def _create_once(path, text, mode, replace=False):
    """Write `text` to a temporary file with `mode`, then link it in as `path` (or replace `path` with it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as out:
        out.write(text)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)
