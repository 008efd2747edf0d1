"""Offline verification of a report someone received: every check PASS or FAIL, with a reason.

Given a signed PDF or a manifest, it checks: the PDF signature is intact and valid, its
signer is trusted by the given anchors, it covers the entire file (an update appended
after signing fails), its timestamp when present; the PDF's attachments match the
manifest inside it; the manifest's detached CMS signature; every artefact found beside
the manifest matches its hash; and, on request, that re-running verification and
assessment on the sources yields the same results digest.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from reporting.signing.cms import verify_detached
from reporting.signing.keys import DEMO_SUBJECT
from reporting.signing.manifest import MANIFEST_NAME, SIGNATURE_NAME, parse_manifest
from reporting.signing.pades import validate_pdf

__all__ = ["Check", "RederiveFunction", "ReportVerification", "verify_report"]

# Re-derives the results digest from the manifest (and the sources the caller holds).
RederiveFunction = Callable[[dict[str, Any], Path], str]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": "PASS" if self.passed else "FAIL",
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ReportVerification:
    path: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "agent-evidence/verify-report/v1",
            "path": self.path,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_demo(subject: str | None) -> bool:
    return subject is not None and (
        "UNTRUSTED DEMO SIGNATURE" in subject or subject == DEMO_SUBJECT
    )


# -- the PDF --------------------------------------------------------------------------------


def _pdf_checks(pdf: bytes, trust: Sequence[x509.Certificate]) -> tuple[list[Check], str | None]:
    verdict = validate_pdf(pdf, trust=trust)
    if not verdict.present:
        return [Check("pdf_signature", False, f"no signature in the PDF ({verdict.detail})")], None
    checks = [
        Check(
            "pdf_signature",
            verdict.intact and verdict.valid,
            "intact and cryptographically valid"
            if verdict.intact and verdict.valid
            else f"the signed bytes were changed or the signature is invalid: {verdict.detail}",
        ),
        _trust_check("pdf_signer_trusted", verdict.trusted, verdict.signer),
        Check(
            "pdf_covers_whole_file",
            verdict.covers_whole_file,
            "the signature covers the entire file"
            if verdict.covers_whole_file
            else "bytes were appended after the signature (an incremental update)",
        ),
    ]
    if verdict.timestamp_valid is not None:
        checks.append(
            Check(
                "pdf_timestamp",
                verdict.timestamp_valid,
                "the signature timestamp is valid"
                if verdict.timestamp_valid
                else "the signature timestamp does not verify",
            )
        )
    return checks, verdict.first_revision_sha256


def _trust_check(name: str, trusted: bool, signer: str | None) -> Check:
    if trusted:
        return Check(name, True, f"signed by {signer}, which chains to a given trust anchor")
    if _is_demo(signer):
        return Check(
            name, False, "intact but untrusted: an UNTRUSTED DEMO SIGNATURE (ephemeral key)"
        )
    return Check(
        name, False, f"intact but untrusted: {signer} is not covered by any --trust anchor"
    )


def _attachments(pdf: bytes) -> dict[str, bytes]:
    try:
        reader = PdfReader(io.BytesIO(pdf))
        return {name: contents[0] for name, contents in reader.attachments.items() if contents}
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the PDF's attachments: {exc}") from exc


def _attachment_checks(pdf: bytes) -> tuple[list[Check], dict[str, Any] | None]:
    try:
        attached = _attachments(pdf)
        manifest = parse_manifest(attached.pop(MANIFEST_NAME))
    except KeyError:
        return [Check("pdf_attachments", False, "the PDF carries no manifest.json")], None
    except ValueError as exc:
        return [Check("pdf_attachments", False, str(exc))], None
    listed = {a["name"]: a["sha256"] for a in manifest["artefacts"]}
    problems = [f"{n} is listed but not attached" for n in sorted(set(listed) - set(attached))]
    problems += [f"{n} is attached but not listed" for n in sorted(set(attached) - set(listed))]
    problems += [
        f"{n} does not match its hash"
        for n in sorted(set(listed) & set(attached))
        if _sha256(attached[n]) != listed[n]
    ]
    reason = "; ".join(problems) or f"{len(listed)} attachments match the manifest inside the PDF"
    return [Check("pdf_attachments", not problems, reason)], manifest


# -- the manifest ---------------------------------------------------------------------------


def _manifest_checks(
    manifest_path: Path, trust: Sequence[x509.Certificate]
) -> tuple[list[Check], dict[str, Any] | None]:
    data = manifest_path.read_bytes()
    try:
        manifest = parse_manifest(data)
    except ValueError as exc:
        return [Check("manifest", False, f"{manifest_path}: {exc}")], None
    signature_path = manifest_path.with_name(SIGNATURE_NAME)
    if not signature_path.is_file():
        return [Check("manifest_signature", False, f"{signature_path.name} is missing")], manifest
    verdict = verify_detached(data, signature_path.read_bytes(), trust=trust)
    checks = [
        Check(
            "manifest_signature",
            verdict.valid,
            "the detached CMS signature is valid" if verdict.valid else verdict.detail,
        ),
        _trust_check("manifest_signer_trusted", verdict.trusted, verdict.signer),
    ]
    return checks, manifest


def _artefacts_beside(
    directory: Path, manifest: dict[str, Any], pdf_first_revision: str | None
) -> Check:
    problems: list[str] = []
    checked = 0
    for entry in manifest["artefacts"]:
        name = str(entry.get("name", ""))
        path = directory / name
        if "/" in name or not path.is_file():
            problems.append(f"{name} is missing")
            continue
        checked += 1
        data = path.read_bytes()
        if name.endswith(".pdf"):
            if pdf_first_revision != entry.get("sha256"):
                problems.append(f"{name}: its first revision does not match the manifest")
        elif _sha256(data) != entry.get("sha256"):
            problems.append(f"{name} does not match its hash")
    reason = "; ".join(problems) or f"{checked} artefacts beside the manifest match their hashes"
    return Check("artefacts_match", not problems, reason)


# -- the whole verification -------------------------------------------------------------------


def verify_report(
    path: Path, *, trust: Sequence[x509.Certificate], rederive: RederiveFunction | None = None
) -> ReportVerification:
    """Check a signed PDF or a manifest (and whatever lies beside it)."""
    checks: list[Check] = []
    manifest: dict[str, Any] | None = None
    pdf_first: str | None = None
    manifest_path = path if path.suffix == ".json" else path.with_name(MANIFEST_NAME)
    if path.suffix.lower() == ".pdf":
        pdf = path.read_bytes()
        pdf_checks, pdf_first = _pdf_checks(pdf, trust)
        checks += pdf_checks
        attachment_checks, manifest = _attachment_checks(pdf)
        checks += attachment_checks
    elif path.name != MANIFEST_NAME:
        checks.append(Check("input", False, f"{path.name} is neither a PDF nor {MANIFEST_NAME}"))
        return ReportVerification(str(path), tuple(checks))
    if manifest_path.is_file():
        outside_checks, outside = _manifest_checks(manifest_path, trust)
        checks += outside_checks
        if outside is not None:
            if path.suffix.lower() != ".pdf":
                beside_checks, pdf_first = _pdf_beside_manifest(path, outside, trust)
                checks += beside_checks
            if manifest_path.with_name(SIGNATURE_NAME).is_file():
                checks.append(_artefacts_beside(manifest_path.parent, outside, pdf_first))
        if manifest and outside and manifest.get("results_digest") != outside.get("results_digest"):
            checks.append(
                Check("manifests_agree", False, "the PDF's manifest and the one beside it differ")
            )
        manifest = outside or manifest
    elif path.suffix.lower() != ".pdf":
        checks.append(Check("manifest", False, f"{manifest_path} not found"))
    if rederive is not None and manifest is not None:
        checks.append(_rederive_check(rederive, manifest, manifest_path.parent))
    return ReportVerification(str(path), tuple(checks))


def _pdf_beside_manifest(
    path: Path, manifest: dict[str, Any], trust: Sequence[x509.Certificate]
) -> tuple[list[Check], str | None]:
    """Verifying from the manifest: check the PDF it lists (validated once, first revision too)."""
    pdfs = [e["name"] for e in manifest["artefacts"] if str(e.get("name", "")).endswith(".pdf")]
    pdf_path = path.with_name(pdfs[0]) if pdfs else None
    if pdf_path is None or not pdf_path.is_file():
        return [], None
    return _pdf_checks(pdf_path.read_bytes(), trust)


def _rederive_check(rederive: RederiveFunction, manifest: dict[str, Any], directory: Path) -> Check:
    expected = manifest.get("results_digest")
    try:
        actual = rederive(manifest, directory)
    except Exception as exc:  # noqa: BLE001 - a failed re-derivation is a FAIL with its reason
        return Check("rederive", False, f"could not re-derive the results: {exc}")
    if actual == expected:
        return Check(
            "rederive", True, "re-running verification and assessment gives the same results digest"
        )
    return Check(
        "rederive", False, f"the sources give results digest {actual}, the manifest says {expected}"
    )
