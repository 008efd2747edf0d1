"""Certificate path validation shared by PAdES, the manifest CMS and RFC 3161 tokens
(reporting.certificates): one set of rules, each rule with a test that names its code."""

from __future__ import annotations

import inspect
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from pyhanko_certvalidator.registry import CertificateRegistry

from reporting.certificates import (
    MAX_INTERMEDIATES,
    PathCode,
    PathVerdict,
    Usage,
    validate_path,
)

from .helpers import deadline
from .test_signing_keys import NOW, make_cert

SIGNED_AT = NOW + timedelta(days=10)
Key = ec.EllipticCurvePrivateKey


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Authority:
    key: Key
    cert: x509.Certificate

    def issue(self, subject: str, **options: object) -> Authority:
        key = _key()
        return Authority(key, make_cert(key, subject, issuer=(self.cert, self.key), **options))  # type: ignore[arg-type]


def _root(subject: str = "CN=Root CA", **options: object) -> Authority:
    key = _key()
    options.setdefault("ca", True)
    options.setdefault("key_usage", None)
    return Authority(key, make_cert(key, subject, **options))  # type: ignore[arg-type]


def _ca(issuer: Authority, subject: str, **options: object) -> Authority:
    return issuer.issue(subject, ca=True, key_usage=None, **options)


def _check(
    signer: Authority,
    trust: list[Authority],
    intermediates: list[Authority] = (),  # type: ignore[assignment]
    *,
    at: datetime = SIGNED_AT,
    usage: Usage = Usage.DOCUMENT_SIGNING,
) -> PathVerdict:
    return validate_path(
        signer.cert,
        intermediates=[a.cert for a in intermediates],
        trust=[a.cert for a in trust],
        moment=at,
        usage=usage,
    )


def _assert_untrusted(verdict: PathVerdict, code: PathCode) -> None:
    assert (verdict.trusted, verdict.code) == (False, code), verdict.detail


@pytest.fixture(scope="module")
def root() -> Authority:
    return _root()


@pytest.fixture(scope="module")
def issuing(root: Authority) -> Authority:
    return _ca(root, "CN=Issuing CA")


# --- a valid chain ---------------------------------------------------------------------


def test_a_chain_through_an_intermediate_is_trusted_from_any_of_its_certificates(
    root: Authority, issuing: Authority
) -> None:
    leaf = issuing.issue("CN=Signer")
    for anchor in (root, issuing, leaf):
        verdict = _check(leaf, [anchor], [issuing])
        assert (verdict.trusted, verdict.code) == (True, None), verdict.detail
        assert verdict.moment == SIGNED_AT
    _assert_untrusted(_check(leaf, [root]), PathCode.NO_PATH)  # intermediate not carried
    _assert_untrusted(_check(leaf, [_root("CN=Other root")], [issuing]), PathCode.NO_PATH)
    _assert_untrusted(_check(leaf, [], [issuing]), PathCode.NO_TRUST_ANCHOR)


def test_an_issuer_with_the_right_name_but_another_key_breaks_the_path(root: Authority) -> None:
    impostor = _root("CN=Root CA")
    forged = _ca(impostor, "CN=Issuing CA")
    leaf = forged.issue("CN=Signer")
    _assert_untrusted(_check(leaf, [root], [forged]), PathCode.INVALID_PATH)


# --- validity at the signing or time-stamp time -----------------------------------------


@pytest.mark.parametrize("which", ["signer", "intermediate", "anchor"])
def test_a_certificate_expired_at_the_moment_breaks_the_path(which: str) -> None:
    short = {"not_before": NOW - timedelta(days=30), "not_after": NOW}
    root = _root(**(short if which == "anchor" else {}))
    issuing = _ca(root, "CN=Issuing CA", **(short if which == "intermediate" else {}))
    leaf = issuing.issue("CN=Signer", **(short if which == "signer" else {}))
    inside = _check(leaf, [root], [issuing], at=NOW - timedelta(days=1))
    assert inside.trusted, inside.detail
    _assert_untrusted(_check(leaf, [root], [issuing], at=NOW + timedelta(days=1)), PathCode.EXPIRED)


@pytest.mark.parametrize("which", ["signer", "intermediate", "anchor"])
def test_a_certificate_not_yet_valid_at_the_moment_breaks_the_path(which: str) -> None:
    later = {"not_before": NOW + timedelta(days=30)}
    root = _root(**(later if which == "anchor" else {}))
    issuing = _ca(root, "CN=Issuing CA", **(later if which == "intermediate" else {}))
    leaf = issuing.issue("CN=Signer", **(later if which == "signer" else {}))
    _assert_untrusted(_check(leaf, [root], [issuing], at=NOW), PathCode.NOT_YET_VALID)
    assert _check(leaf, [root], [issuing], at=NOW + timedelta(days=31)).trusted


def test_a_remembered_path_is_reused_only_inside_its_validity(root: Authority) -> None:
    leaf = root.issue("CN=Short-lived", not_after=NOW + timedelta(days=20))
    assert _check(leaf, [root], at=NOW + timedelta(days=19)).trusted
    _assert_untrusted(_check(leaf, [root], at=NOW + timedelta(days=21)), PathCode.EXPIRED)
    _assert_untrusted(_check(leaf, [root], at=NOW - timedelta(days=2)), PathCode.NOT_YET_VALID)


# --- path structure --------------------------------------------------------------------


def test_a_path_through_a_non_ca_intermediate_is_refused(root: Authority) -> None:
    not_ca = root.issue("CN=Not a CA")  # an end-entity certificate that issued another
    leaf = not_ca.issue("CN=Signer")
    _assert_untrusted(_check(leaf, [root], [not_ca]), PathCode.NOT_A_CA)


def test_an_anchor_that_is_not_a_ca_issues_nothing() -> None:
    key = _key()
    not_ca = Authority(key, make_cert(key, "CN=Report signer"))
    leaf = not_ca.issue("CN=Signed by an end entity")
    assert _check(not_ca, [not_ca]).trusted  # trusted as itself
    _assert_untrusted(_check(leaf, [not_ca]), PathCode.NO_PATH)


def _chain(length: int, **root_options: object) -> tuple[Authority, list[Authority], Authority]:
    root = _root(**root_options)
    cas = [root]
    for level in range(length):
        cas.append(_ca(cas[-1], f"CN=Intermediate {level}"))
    return root, cas[1:], cas[-1].issue("CN=Signer")


def test_at_most_max_intermediates_between_signer_and_anchor() -> None:
    root, intermediates, leaf = _chain(MAX_INTERMEDIATES)
    assert _check(leaf, [root], intermediates).trusted
    root, intermediates, leaf = _chain(MAX_INTERMEDIATES + 1)
    _assert_untrusted(_check(leaf, [root], intermediates), PathCode.PATH_TOO_LONG)
    # the same path is fine from an anchor closer to the signer
    assert _check(leaf, [intermediates[0]], intermediates).trusted


def test_a_path_length_constraint_is_honoured() -> None:
    root, intermediates, leaf = _chain(1, path_length=0)
    _assert_untrusted(_check(leaf, [root], intermediates), PathCode.PATH_TOO_LONG)
    root, intermediates, leaf = _chain(1, path_length=1)
    assert _check(leaf, [root], intermediates).trusted


def test_a_certificate_with_the_anchors_name_and_key_is_not_the_anchor(root: Authority) -> None:
    leaf_key = _key()
    leaf = Authority(leaf_key, make_cert(leaf_key, "CN=Signer", issuer=(root.cert, root.key)))
    twin = Authority(leaf_key, make_cert(leaf_key, "CN=Signer", not_after=NOW + timedelta(days=99)))
    assert _check(leaf, [leaf]).trusted
    _assert_untrusted(_check(twin, [leaf]), PathCode.NO_PATH)


# --- usage -----------------------------------------------------------------------------


def test_a_document_signer_needs_digital_signature_or_non_repudiation(root: Authority) -> None:
    assert _check(root.issue("CN=Non-repudiation", key_usage=(False, True)), [root]).trusted
    for key_usage in [(False, False), None]:
        leaf = root.issue("CN=Encryption only", key_usage=key_usage)
        _assert_untrusted(_check(leaf, [root]), PathCode.WRONG_USAGE)


def test_a_time_stamping_authority_needs_the_time_stamping_purpose(root: Authority) -> None:
    tsa = root.issue(
        "CN=TSA", extensions=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),)
    )
    assert _check(tsa, [root], usage=Usage.TIME_STAMPING).trusted
    signer = root.issue(
        "CN=Code signer", extensions=(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),)
    )
    _assert_untrusted(_check(signer, [root], usage=Usage.TIME_STAMPING), PathCode.WRONG_USAGE)
    _assert_untrusted(
        _check(root.issue("CN=No EKU"), [root], usage=Usage.TIME_STAMPING), PathCode.WRONG_USAGE
    )


# --- revocation: not checked, offline --------------------------------------------------


def test_revocation_is_not_checked_and_nothing_is_fetched(root: Authority) -> None:
    """Documented behaviour (SECURITY.md): a certificate naming a CRL and an OCSP
    responder is trusted without either being asked; revocation is not checked."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        points = x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(url + "crl")], None, None, None
                )
            ]
        )
        ocsp = x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url + "ocsp")
                )
            ]
        )
        leaf = root.issue("CN=Revocable", extensions=(points, ocsp))
        assert _check(leaf, [root]).trusted
        with pytest.raises(TimeoutError):
            listener.accept()


# --- bounded work on certificates from the input -----------------------------------------


def test_path_search_over_crafted_certificates_is_bounded(root: Authority) -> None:
    # Twelve CA certificates with one name and key: every ordering of them is a
    # candidate path (12! without a bound; eight already take ten seconds).
    key = _key()
    decoys = [
        Authority(key, make_cert(key, "CN=Loop", ca=True, key_usage=None, serial=n + 1))
        for n in range(12)
    ]
    decoy_leaf = decoys[0].issue("CN=Signer")
    with deadline(30):
        verdict = _check(decoy_leaf, [root], decoys)
    _assert_untrusted(verdict, PathCode.PATH_SEARCH_LIMIT)


def test_the_path_search_override_still_fits_certvalidator() -> None:
    """Tripwire: reporting.certificates bounds the search by overriding this method."""
    parameters = list(inspect.signature(CertificateRegistry.find_potential_issuers).parameters)
    assert parameters == ["self", "cert", "trust_manager"], (
        "pyhanko-certvalidator changed CertificateRegistry.find_potential_issuers: "
        "re-check reporting/certificates.py (_BoundedRegistry) before raising the pin"
    )


def test_validity_is_checked_at_the_moment_given_not_now(root: Authority) -> None:
    old = root.issue(
        "CN=Old signer",
        not_before=datetime(2001, 1, 1, tzinfo=UTC),
        not_after=datetime(2002, 1, 1, tzinfo=UTC),
    )
    assert _check(old, [root], at=datetime(2001, 6, 1, tzinfo=UTC)).trusted is False  # root later
    verdict = _check(old, [old], at=datetime(2001, 6, 1, tzinfo=UTC))
    assert verdict.trusted, verdict.detail
    _assert_untrusted(_check(old, [old], at=datetime.now(UTC)), PathCode.EXPIRED)
