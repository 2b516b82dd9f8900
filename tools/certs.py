"""A cluster CA and its certificates, for ``make run-cluster``, the tests and benches.

Uses the ``cryptography`` library (no hand-written ASN.1). Every certificate is valid
for both TLS server and client use: a worker serves gRPC and dials peers; the master and
the controller dial workers. A certificate's subject alternative names are its process
name (a worker's is its ``WORKER_ID``, which the master checks on every dial), plus
``localhost`` and 127.0.0.1 so the same files serve loopback HTTPS.

Production clusters bring their own CA (cert-manager, Vault); these are for development
and tests, and are written with 0600 keys under the cluster's ``var/`` folder.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertFiles", "ClusterCa", "ClusterSecrets"]

_VALID_DAYS = 30


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class CertFiles:
    """One process's certificate and key, and the CA that vouches for it."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def env(self) -> dict[str, str]:
        """The CLUSTER_TLS_* variables that make a process use these files."""
        return {
            "CLUSTER_TLS_CA_FILE": str(self.ca_file),
            "CLUSTER_TLS_CERT_FILE": str(self.cert_file),
            "CLUSTER_TLS_KEY_FILE": str(self.key_file),
        }


class ClusterCa:
    """A CA in ``folder`` (``ca.pem``, ``ca.key``); made on first use, reused after."""

    def __init__(self, folder: Path, common_name: str = "EchoFS cluster CA",
                 valid_days: int = _VALID_DAYS) -> None:
        self.folder = folder
        self.valid_days = valid_days
        self.ca_file = folder / "ca.pem"
        key_file = folder / "ca.key"
        if self.ca_file.is_file() and key_file.is_file():
            self._key = serialization.load_pem_private_key(key_file.read_bytes(), None)
            self._cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            return
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self.valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        _write_private(key_file, _key_pem(self._key))  # type: ignore[arg-type]
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str) -> CertFiles:
        """A certificate for ``name`` (SANs: name, localhost, 127.0.0.1), made once."""
        cert_file = self.folder / f"{name}.pem"
        key_file = self.folder / f"{name}.key"
        if cert_file.is_file() and key_file.is_file():
            return CertFiles(self.ca_file, cert_file, key_file)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self.valid_days))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(name), x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())  # type: ignore[arg-type]
        )
        _write_private(key_file, _key_pem(key))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return CertFiles(self.ca_file, cert_file, key_file)


@dataclass(frozen=True)
class ClusterSecrets:
    """CLUSTER_SECRET, JWT_SECRET and KEY_ENCRYPTION_KEY for one cluster, kept in
    ``folder/secrets.env``.

    Made fresh (48 random bytes each) the first time a cluster folder is used and read
    back afterwards, so a restarted ``make run-cluster`` keeps its tokens valid and its
    API key secrets readable. A folder made before KEY_ENCRYPTION_KEY existed gets one
    added, its other secrets kept.
    """

    cluster_secret: str
    jwt_secret: str
    key_encryption_key: str = ""

    @classmethod
    def load_or_create(cls, folder: Path) -> ClusterSecrets:
        path = folder / "secrets.env"
        if path.is_file():
            values = dict(
                line.split("=", 1) for line in path.read_text().splitlines() if "=" in line
            )
            found = cls(values["CLUSTER_SECRET"], values["JWT_SECRET"],
                        values.get("KEY_ENCRYPTION_KEY", ""))
            if found.key_encryption_key:
                return found
            made = cls(found.cluster_secret, found.jwt_secret, secrets.token_urlsafe(48))
        else:
            made = cls(secrets.token_urlsafe(48), secrets.token_urlsafe(48),
                       secrets.token_urlsafe(48))
        _write_private(path, made.env_text().encode())
        return made

    def env_text(self) -> str:
        return (f"CLUSTER_SECRET={self.cluster_secret}\nJWT_SECRET={self.jwt_secret}\n"
                f"KEY_ENCRYPTION_KEY={self.key_encryption_key}\n")
