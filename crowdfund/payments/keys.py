"""RSA keys for Alipay: loaded from config (PEM text or a file path), or generated for the sandbox."""
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
    """The sandbox's "Alipay" key pair and a development merchant key pair, created once under instance/."""
    folder = Path(instance_path) / "payments"
    folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for owner in ("alipay", "app"):
        private, public = folder / f"{owner}_private.pem", folder / f"{owner}_public.pem"
        if not private.exists() or not public.exists():
            private_pem, public_pem = generate_keypair()
            private.write_text(private_pem)
            private.chmod(0o600)
            public.write_text(public_pem)
        keys[f"{owner}_private"], keys[f"{owner}_public"] = private.read_text(), public.read_text()
    return keys
