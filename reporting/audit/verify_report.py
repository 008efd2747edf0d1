"""Offline verification of a report someone received: every check PASS or FAIL, with a reason.

Given a signed PDF, a manifest or a report directory, it says first what the report is
(id, period, organisation, signing time, the signer certificate's SHA-256), then checks:
the PDF signature is intact and valid, its signer is trusted by the given anchors, it
covers the entire file, its timestamp when present; the PDF's attachments match the
manifest inside it; the manifest's detached CMS signature and its signer; every file the
manifest lists (the PDF, the exports, `summary.json`, the signer certificate) matches its
hash; no other file lies in the report directory; and, on request, that re-running the
recorded settings over the sources yields the same results.

It never reads better than what it checked: an invalid signature is "not intact", never
"intact but untrusted", and trusting the certificate that came with the report proves
nothing, which it says (a warning, and `self_anchored` in the JSON).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from reporting.report.names import BRIEF_SUFFIX, MANIFEST_NAME
from reporting.signing.cms import CmsVerdict, verify_detached
from reporting.signing.keys import DEMO_SUBJECT
from reporting.signing.manifest import SIGNATURE_NAME, parse_manifest
from reporting.signing.outputs import CERTIFICATE_NAME
from reporting.signing.pades import PdfSignatureVerdict, validate_pdf

__all__ = [
    "Check",
    "RederiveFunction",
    "ReportAbout",
    "ReportVerification",
    "pdf_attachments",
    "verify_report",
]

VERIFY_REPORT_SCHEMA = "agent-evidence/verify-report/v2"
# Re-derives the results and reports what differs (nothing: None); raises on a problem.
RederiveFunction = Callable[[dict[str, Any], Path], str | None]


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
class ReportAbout:
    """What the report says it is (from the manifest), and who signed it when."""

    report_id: str | None = None
    organisation: str | None = None
    period: dict[str, Any] = field(default_factory=dict)
    signing_time: str | None = None
    signer: str | None = None
    certificate_sha256: str | None = None


@dataclass(frozen=True)
class ReportVerification:
    path: str
    checks: tuple[Check, ...]
    about: ReportAbout = field(default_factory=ReportAbout)
    warnings: tuple[str, ...] = ()
    self_anchored: bool = False  # the only trust anchors given came with the report
    demo: bool = False  # signed with an ephemeral UNTRUSTED DEMO key

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        about = self.about
        return {
            "schema": VERIFY_REPORT_SCHEMA,
            "path": self.path,
            "ok": self.ok,
            "report": {
                "report_id": about.report_id,
                "organisation": about.organisation,
                "period": about.period,
                "signing_time": about.signing_time,
                "signer": about.signer,
                "certificate_sha256": about.certificate_sha256,
            },
            "trust": {"self_anchored": self.self_anchored, "demo": self.demo},
            "warnings": list(self.warnings),
            "checks": [c.to_json() for c in self.checks],
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_demo(subject: str | None) -> bool:
    return subject is not None and (
        "UNTRUSTED DEMO SIGNATURE" in subject or subject == DEMO_SUBJECT
    )


# Whether a signer is trusted, per signed artefact: the checks that fail on a demo or an
# unanchored signer while the files are intact (the previous-report lookup tells them apart).
SIGNER_TRUST_CHECKS = frozenset(
    {"pdf_signer_trusted", "manifest_signer_trusted", "brief_signer_trusted"}
)


def _trust_check(name: str, *, valid: bool, trusted: bool, signer: str | None) -> Check:
    assert name in SIGNER_TRUST_CHECKS, name
    if not valid:
        return Check(name, False, "not checked: the signature is not intact or not valid")
    if trusted:
        return Check(name, True, f"signed by {signer}, which chains to a given trust anchor")
    if _is_demo(signer):
        return Check(
            name, False, "valid but untrusted: an UNTRUSTED DEMO SIGNATURE (ephemeral key)"
        )
    return Check(name, False, f"valid but untrusted: {signer} is not covered by any --trust anchor")


# -- the PDF --------------------------------------------------------------------------------


def _pdf_checks(verdict: PdfSignatureVerdict) -> list[Check]:
    if not verdict.present:
        return [Check("pdf_signature", False, f"no signature in the PDF ({verdict.detail})")]
    valid = verdict.intact and verdict.valid
    checks = [
        Check(
            "pdf_signature",
            valid,
            "intact and cryptographically valid"
            if valid
            else f"not intact: the signed bytes were changed or the signature is invalid "
            f"({verdict.detail})",
        ),
        _trust_check(
            "pdf_signer_trusted", valid=valid, trusted=verdict.trusted, signer=verdict.signer
        ),
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
    return checks


def pdf_attachments(pdf: bytes) -> dict[str, bytes]:
    try:
        reader = PdfReader(io.BytesIO(pdf))
        return {name: contents[0] for name, contents in reader.attachments.items() if contents}
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"cannot read the PDF's attachments: {exc}") from exc


def _attachment_checks(pdf: bytes) -> tuple[list[Check], dict[str, Any] | None]:
    try:
        attached = pdf_attachments(pdf)
        manifest = parse_manifest(attached.pop(MANIFEST_NAME))
    except KeyError:
        return [Check("pdf_attachments", False, "the PDF carries no manifest.json")], None
    except ValueError as exc:
        return [Check("pdf_attachments", False, f"the manifest inside the PDF: {exc}")], None
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


# -- the manifest and the files beside it ----------------------------------------------------


def _manifest_checks(
    manifest_path: Path, trust: Sequence[x509.Certificate]
) -> tuple[list[Check], dict[str, Any] | None, CmsVerdict | None]:
    data = manifest_path.read_bytes()
    try:
        manifest = parse_manifest(data)
    except ValueError as exc:
        return [Check("manifest", False, f"{manifest_path.name}: {exc}")], None, None
    signature_path = manifest_path.with_name(SIGNATURE_NAME)
    if not signature_path.is_file():
        missing = Check("manifest_signature", False, f"{SIGNATURE_NAME} is missing")
        return [missing], manifest, None
    verdict = verify_detached(data, signature_path.read_bytes(), trust=trust)
    checks = [
        Check(
            "manifest_signature",
            verdict.valid,
            "the detached CMS signature is valid"
            if verdict.valid
            else f"not intact: {verdict.detail}",
        ),
        _trust_check(
            "manifest_signer_trusted",
            valid=verdict.valid,
            trusted=verdict.trusted,
            signer=verdict.signer,
        ),
    ]
    return checks, manifest, verdict


def _artefacts_match(directory: Path, manifest: dict[str, Any]) -> Check:
    problems: list[str] = []
    for entry in manifest["artefacts"]:
        name = entry["name"]  # a plain file name (parse_manifest refuses anything else)
        path = directory / name
        if not path.is_file() or path.is_symlink():
            problems.append(f"{name} is missing")
        elif _file_sha256(path) != entry["sha256"]:
            problems.append(f"{name} does not match its hash")
    count = len(manifest["artefacts"])
    reason = "; ".join(problems) or f"{count} files beside the manifest match their hashes"
    return Check("artefacts_match", not problems, reason)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _unlisted_files(directory: Path, manifest: dict[str, Any]) -> Check:
    """Every entry of the report directory must be listed (or be the manifest and its
    signature): a file slipped in beside a signed report is not part of it."""
    allowed = {MANIFEST_NAME, SIGNATURE_NAME, *(e["name"] for e in manifest["artefacts"])}
    extra = sorted(p.name for p in directory.iterdir() if p.name not in allowed)
    if extra:
        return Check("unlisted_files", False, "not listed in the manifest: " + ", ".join(extra))
    return Check("unlisted_files", True, "every file in the directory is listed in the manifest")


# -- trust anchors -----------------------------------------------------------------------------


def _report_certificates(directory: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates((directory / CERTIFICATE_NAME).read_bytes())
    except (OSError, ValueError):
        return []


def _self_anchored(trust: Sequence[x509.Certificate], directory: Path) -> bool:
    """Whether every anchor given is a certificate that came with the report itself."""
    own = {c.fingerprint(hashes.SHA256()) for c in _report_certificates(directory)}
    return bool(trust) and all(c.fingerprint(hashes.SHA256()) in own for c in trust)


def _warnings(*, self_anchored: bool, demo: bool) -> tuple[str, ...]:
    found = []
    if demo:
        found.append(
            "signed with an UNTRUSTED DEMO SIGNATURE (an ephemeral key): the signature shows "
            "the files were not changed after signing, not who issued them"
        )
    if self_anchored:
        found.append(
            f"the only trust anchor given is the report's own {CERTIFICATE_NAME}: that proves "
            "the files match each other, not who issued them; get the signer's certificate "
            "from its owner and pass it with --trust"
        )
    return tuple(found)


# -- the whole verification -------------------------------------------------------------------


@dataclass
class _Found:
    checks: list[Check] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    cms: CmsVerdict | None = None
    pdf: PdfSignatureVerdict | None = None


def _locate(path: Path) -> tuple[Path | None, Path]:
    """(the PDF given, or None; the manifest to read) for a PDF, a manifest or a directory."""
    if path.is_dir():
        return None, path / MANIFEST_NAME
    if path.suffix.lower() == ".pdf":
        return path, path.with_name(MANIFEST_NAME)
    return None, path


def verify_report(
    path: Path, *, trust: Sequence[x509.Certificate], rederive: RederiveFunction | None = None
) -> ReportVerification:
    """Check a signed PDF, a manifest or a report directory (and whatever lies beside it)."""
    pdf_path, manifest_path = _locate(path)
    found = _Found()
    inner: dict[str, Any] | None = None
    if pdf_path is not None:
        inner = _check_pdf(pdf_path, trust, found)
    elif manifest_path.name != MANIFEST_NAME:
        found.checks.append(
            Check("input", False, f"{path.name} is neither a PDF nor {MANIFEST_NAME}")
        )
        return ReportVerification(str(path), tuple(found.checks))
    if manifest_path.is_file():
        _check_directory(manifest_path, pdf_path, trust, found)
    elif pdf_path is None:
        found.checks.append(Check("manifest", False, f"{manifest_path.name} not found"))
    if inner is not None and found.manifest is not None:
        agree = inner.get("results_digest") == found.manifest.get("results_digest")
        reason = "the PDF's manifest and the one beside it record the same results"
        found.checks.append(
            Check(
                "manifests_agree",
                agree,
                reason if agree else "the PDF's manifest and the one beside it differ",
            )
        )
    manifest = found.manifest or inner
    if rederive is not None and manifest is not None:
        found.checks.append(_rederive_check(rederive, manifest, manifest_path.parent))
    return _result(path, found, manifest, trust, manifest_path.parent)


def _check_pdf(
    pdf_path: Path, trust: Sequence[x509.Certificate], found: _Found
) -> dict[str, Any] | None:
    pdf = pdf_path.read_bytes()
    found.pdf = validate_pdf(pdf, trust=trust)
    found.checks += _pdf_checks(found.pdf)
    attachment_checks, inner = _attachment_checks(pdf)
    found.checks += attachment_checks
    return inner


def _check_directory(
    manifest_path: Path, pdf_path: Path | None, trust: Sequence[x509.Certificate], found: _Found
) -> None:
    checks, manifest, found.cms = _manifest_checks(manifest_path, trust)
    found.checks += checks
    if manifest is None:
        return
    found.manifest = manifest
    if pdf_path is None:
        listed = [  # the report's PDF; a brief alone is checked as a brief (below)
            name
            for name in (e["name"] for e in manifest["artefacts"])
            if name.endswith(".pdf") and not name.endswith(BRIEF_SUFFIX)
        ]
        candidate = manifest_path.with_name(listed[0]) if listed else None
        if candidate is not None and candidate.is_file():
            _check_pdf(candidate, trust, found)
            pdf_path = candidate
    directory = manifest_path.parent
    for name in _listed_briefs(manifest, pdf_path):
        found.checks += _brief_checks(directory / name, manifest, trust)
    found.checks.append(_artefacts_match(directory, manifest))
    found.checks.append(_unlisted_files(directory, manifest))


def _listed_briefs(manifest: dict[str, Any], given: Path | None) -> list[str]:
    """The approval briefs the manifest lists, but the one given to check on its own."""
    names = [e["name"] for e in manifest["artefacts"] if e["name"].endswith(BRIEF_SUFFIX)]
    return [n for n in names if given is None or n != given.name]


def _brief_checks(
    path: Path, manifest: dict[str, Any], trust: Sequence[x509.Certificate]
) -> list[Check]:
    """A brief beside the report: its own signature, its signer, and that the manifest it
    carries records this report's results (its bytes are checked with every artefact)."""
    if not path.is_file():
        return []  # artefacts_match says it is missing
    pdf = path.read_bytes()
    verdict = validate_pdf(pdf, trust=trust)
    whole = verdict.present and verdict.intact and verdict.valid and verdict.covers_whole_file
    _, inner = _attachment_checks(pdf)
    same = inner is not None and all(
        inner.get(key) == manifest.get(key) for key in ("report_id", "results_digest")
    )
    return [
        Check(
            "brief_signature",
            whole,
            f"{path.name}: intact, valid and covering the whole file"
            if whole
            else f"{path.name}: not intact, not valid or extended after signing ({verdict.detail})",
        ),
        _trust_check(
            "brief_signer_trusted",
            valid=whole,
            trusted=verdict.trusted,
            signer=verdict.signer,
        ),
        Check(
            "brief_belongs",
            same,
            f"{path.name} carries this report's id and results digest"
            if same
            else f"{path.name} does not carry this report's id and results digest",
        ),
    ]


def _result(
    path: Path,
    found: _Found,
    manifest: dict[str, Any] | None,
    trust: Sequence[x509.Certificate],
    directory: Path,
) -> ReportVerification:
    signer = (found.cms.signer if found.cms else None) or (found.pdf.signer if found.pdf else None)
    when = (found.cms.signing_time if found.cms else None) or (
        found.pdf.signing_time if found.pdf else None
    )
    manifest = manifest or {}
    period = manifest.get("period")
    about = ReportAbout(
        report_id=_text(manifest.get("report_id")),
        organisation=_text(manifest.get("organisation")),
        period=period if isinstance(period, dict) else {},
        signing_time=when.isoformat() if when else None,
        signer=signer,
        certificate_sha256=found.cms.certificate_sha256 if found.cms else None,
    )
    demo = _is_demo(signer)
    anchored = _self_anchored(trust, directory)
    return ReportVerification(
        str(path),
        tuple(found.checks),
        about=about,
        warnings=_warnings(self_anchored=anchored, demo=demo),
        self_anchored=anchored,
        demo=demo,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _rederive_check(rederive: RederiveFunction, manifest: dict[str, Any], directory: Path) -> Check:
    try:
        difference = rederive(manifest, directory)
    except Exception as exc:  # noqa: BLE001 - a failed re-derivation is a FAIL with its reason
        return Check("rederive", False, f"could not re-derive the results: {exc}")
    if difference is None:
        return Check(
            "rederive",
            True,
            "re-running the recorded settings over the sources gives the same report id and "
            "results digest",
        )
    return Check("rederive", False, difference)
