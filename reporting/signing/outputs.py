"""Seal a run's artefacts: sign the PDF, list everything in the manifest, sign the manifest.

Order matters. The PDF is signed first (PAdES, an incremental update of the render), so
the manifest lists the signed file itself. The signer's certificate and `summary.json`
(built from the final listings) are listed too: every file a reader relies on is covered
by the manifest's detached CMS signature, and nothing else may lie beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.serialization import Encoding

from reporting.report.artefacts import Artefact
from reporting.report.model import SignatureNotice
from reporting.report.names import MANIFEST_DESCRIPTION, MANIFEST_NAME
from reporting.signing.cms import sign_detached
from reporting.signing.keys import SigningIdentity
from reporting.signing.manifest import SIGNATURE_NAME, ManifestInputs, manifest_bytes
from reporting.signing.pades import sign_pdf

__all__ = ["CERTIFICATE_NAME", "SUMMARY_NAME", "notice_for", "seal_artefacts"]

CERTIFICATE_NAME = "signer-cert.pem"
SUMMARY_NAME = "summary.json"

# Builds summary.json's content from the listings of the other artefacts.
SummaryBuilder = Callable[[Sequence[dict[str, Any]]], dict[str, Any]]


def notice_for(
    identity: SigningIdentity, *, signing_time: datetime | None = None
) -> SignatureNotice:
    """Who signs the report and when (to the second, UTC), as the report states it."""
    certificate = identity.certificate.public_bytes(Encoding.DER)
    when = signing_time.astimezone(UTC).replace(microsecond=0) if signing_time else None
    return SignatureNotice(
        signer=identity.subject,
        algorithm=identity.algorithm,
        demo=identity.demo,
        certificate_sha256=hashlib.sha256(certificate).hexdigest(),
        signing_time=when.isoformat() if when else None,
    )


def _signed_pdf(
    artefact: Artefact,
    identity: SigningIdentity,
    *,
    organisation: str,
    signing_time: datetime,
    tsa_url: str | None,
) -> Artefact:
    data = sign_pdf(
        artefact.data,
        identity,
        signing_time=signing_time,
        reason=f"Evidence report issued by {organisation}",
        location=organisation,
        signer_name=identity.subject,
        tsa_url=tsa_url,
    )
    signed = artefact.description.removesuffix(")") + ", signed)"  # "brief (PDF/A-3b, signed)"
    return replace(artefact, data=data, description=signed)


def certificate_artefact(identity: SigningIdentity) -> Artefact:
    certificates = b"".join(
        c.public_bytes(Encoding.PEM) for c in (identity.certificate, *identity.chain)
    )
    return Artefact(CERTIFICATE_NAME, "application/x-pem-file", certificates, "signer certificate")


def seal_artefacts(
    artefacts: Sequence[Artefact],
    identity: SigningIdentity,
    *,
    manifest: ManifestInputs,
    summary: SummaryBuilder,
    organisation: str,
    signing_time: datetime,
    tsa_url: str | None = None,
) -> tuple[list[Artefact], dict[str, Any]]:
    """The report directory's files, signed and listed, and the summary written there."""
    sealed = [
        _signed_pdf(
            a, identity, organisation=organisation, signing_time=signing_time, tsa_url=tsa_url
        )
        if a.name.endswith(".pdf")
        else a
        for a in artefacts
    ]
    sealed.append(certificate_artefact(identity))
    document = summary([a.listing() for a in sealed])
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    sealed.append(Artefact(SUMMARY_NAME, "application/json", data, "run summary"))
    listed = manifest_bytes(manifest, [a.listing() for a in sealed])
    sealed.append(Artefact(MANIFEST_NAME, "application/json", listed, MANIFEST_DESCRIPTION))
    signature = sign_detached(listed, identity, signing_time=signing_time)
    sealed.append(
        Artefact(SIGNATURE_NAME, "application/pkcs7-signature", signature, "manifest signature")
    )
    return sealed, document
