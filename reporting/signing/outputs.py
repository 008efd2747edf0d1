"""Sign a run's artefacts: PAdES on the PDF, a detached CMS signature on the manifest.

The manifest was written over the unsigned render, so it lists the PDF by its first
revision; the signature is an incremental update that leaves those bytes untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding

from reporting.report.artefacts import Artefact
from reporting.report.model import SignatureNotice
from reporting.signing.cms import sign_detached
from reporting.signing.keys import SigningIdentity
from reporting.signing.manifest import MANIFEST_NAME, SIGNATURE_NAME
from reporting.signing.pades import sign_pdf

__all__ = ["CERTIFICATE_NAME", "notice_for", "sign_artefacts"]

CERTIFICATE_NAME = "signer-cert.pem"


def notice_for(identity: SigningIdentity) -> SignatureNotice:
    return SignatureNotice(
        signer=identity.subject, algorithm=identity.algorithm, demo=identity.demo
    )


def sign_artefacts(
    artefacts: Sequence[Artefact],
    identity: SigningIdentity,
    *,
    organisation: str,
    signing_time: datetime,
    tsa_url: str | None = None,
) -> list[Artefact]:
    """The artefacts with the PDF signed, the manifest signature and the signer's certificate."""
    signed: list[Artefact] = []
    for artefact in artefacts:
        if not artefact.name.endswith(".pdf"):
            signed.append(artefact)
            continue
        data = sign_pdf(
            artefact.data,
            identity,
            signing_time=signing_time,
            reason=f"Evidence report issued by {organisation}",
            location=organisation,
            signer_name=identity.subject,
            tsa_url=tsa_url,
        )
        signed.append(replace(artefact, data=data, description="report (PDF/A-3b, signed)"))
    manifest = next(a for a in signed if a.name == MANIFEST_NAME)
    signature = sign_detached(manifest.data, identity, signing_time=signing_time)
    certificates = b"".join(
        c.public_bytes(Encoding.PEM) for c in (identity.certificate, *identity.chain)
    )
    signed.append(
        Artefact(SIGNATURE_NAME, "application/pkcs7-signature", signature, "manifest signature")
    )
    signed.append(
        Artefact(CERTIFICATE_NAME, "application/x-pem-file", certificates, "signer certificate")
    )
    return signed
