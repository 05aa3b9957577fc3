"""Scan every layer of a saved image (`docker save`) for credentials and key material.

A file deleted in a later layer is still in the image: anyone who pulls it can read
the earlier layer. So the scan reads each layer tar on its own, not the final
filesystem. What it reports:

* private keys: any file holding a whole PEM ``PRIVATE KEY`` block (RSA, EC, DSA,
  OpenSSH, PKCS#8, encrypted) with a key body, or a PuTTY key; code and documents
  that only name the header (parsers, docs) are not keys;
* service-account JSON: ``"type": "service_account"`` with a ``private_key`` that holds
  a PEM key (JSON-escaped), not a placeholder;
* key and keystore files by name (``*.key``, ``*.p12``, ``*.pfx``, ``*.jks``,
  ``id_rsa``..., ``.netrc``, ``.git-credentials``, ``.pypirc``, Docker and gcloud
  credential files), and ``*.pem`` files that hold anything but certificates (public CA
  bundles such as certifi's are certificates only);
* any trace of the build CA: a ``build-ca`` path, or a certificate that the build CA
  bundle has and the image's own system bundle does not (a proxy's CA).

Both docker save layouts are read: the legacy ``<id>/layer.tar`` and OCI ``blobs/``.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Files larger than this are not read for content (keys and bundles are small).
MAX_CONTENT = 4 << 20
#: A whole PEM private key: header, at least 64 characters of body, matching footer.
PRIVATE_KEY = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----"
    rb"[A-Za-z0-9+/=\s:,-]{64,}?-----END \1-----"
    rb"|PuTTY-User-Key-File-\d+: [a-z0-9-]+\r?\nEncryption: "
)
#: The same inside a JSON string, where the newlines are written \n.
JSON_PRIVATE_KEY = re.compile(
    rb'"private_key"\s*:\s*"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n)?[A-Za-z0-9+/=\\n]{64,}'
)
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+(.+?)\s+-----END CERTIFICATE-----", re.S)
SERVICE_ACCOUNT = re.compile(rb'"type"\s*:\s*"service_account"')
KEY_SUFFIXES = {".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk"}
KEY_NAMES = {
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".git-credentials", ".pypirc",
    "application_default_credentials.json", "credentials.db", "access_tokens.db",
}  # fmt: skip
#: Paths that are a system CA bundle, built in the image by ca-certificates.
SYSTEM_BUNDLES = {"etc/ssl/certs/ca-certificates.crt"}


@dataclass(frozen=True)
class Finding:
    layer: str
    path: str
    why: str

    def __str__(self) -> str:
        return f"{self.path} (layer {self.layer[:12]}): {self.why}"


def certificates(pem: bytes) -> set[bytes]:
    """The base64 bodies (whitespace removed) of the certificates in a PEM bundle."""
    return {re.sub(rb"\s+", b"", body) for body in CERT.findall(pem)}


def layers(saved: Path) -> Iterator[tuple[str, tarfile.TarFile]]:
    """(layer name, open tar) for each layer of a `docker save` archive, in order."""
    with tarfile.open(saved) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for entry in manifest:
            for name in entry["Layers"]:
                member = outer.extractfile(name)
                assert member is not None, name
                with tarfile.open(fileobj=io.BytesIO(member.read())) as layer:
                    yield name, layer


def system_bundle(saved: Path) -> bytes:
    """The image's own system CA bundle: the last layer that writes it wins."""
    found = b""
    for _name, layer in layers(saved):
        for member in layer.getmembers():
            if member.isfile() and member.name.lstrip("./") in SYSTEM_BUNDLES:
                data = layer.extractfile(member)
                found = data.read() if data else b""
    return found


def scan(saved: Path, build_ca: bytes = b"") -> tuple[list[Finding], int]:
    """Findings in every layer, and how many files were looked at.

    `build_ca`: the CA bundle handed to the build; its certificates that the image's
    system bundle lacks must appear nowhere.
    """
    foreign = certificates(build_ca) - certificates(system_bundle(saved))
    findings: list[Finding] = []
    files = 0
    for layer_name, layer in layers(saved):
        for member in layer.getmembers():
            path = member.name.lstrip("./")
            pure = PurePosixPath(path)
            if "build-ca" in pure.parts:
                findings.append(Finding(layer_name, path, "the build CA folder"))
            if not member.isfile():
                continue
            files += 1
            name = pure.name
            if name in KEY_NAMES or pure.suffix.lower() in KEY_SUFFIXES:
                findings.append(Finding(layer_name, path, "a key or credential file by name"))
            if (
                path.endswith((".docker/config.json", ".config/gcloud/credentials"))
                and member.size > 0
            ):
                findings.append(Finding(layer_name, path, "a credential store"))
            if member.size > MAX_CONTENT:
                continue
            handle = layer.extractfile(member)
            data = handle.read() if handle else b""
            if PRIVATE_KEY.search(data):
                findings.append(Finding(layer_name, path, "private key material"))
            if SERVICE_ACCOUNT.search(data) and JSON_PRIVATE_KEY.search(data):
                findings.append(Finding(layer_name, path, "a service-account key"))
            if pure.suffix.lower() == ".pem":
                kinds = {k.decode() for k in PEM_BLOCK.findall(data)}
                if kinds - {"CERTIFICATE", "TRUSTED CERTIFICATE"}:
                    findings.append(Finding(layer_name, path, f"a .pem holding {sorted(kinds)}"))
            if foreign and b"-----BEGIN CERTIFICATE-----" in data:
                leaked = certificates(data) & foreign
                if leaked:
                    findings.append(
                        Finding(layer_name, path, f"{len(leaked)} certificate(s) of the build CA")
                    )
    return findings, files
