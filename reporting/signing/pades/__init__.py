"""PAdES signatures on the evidence report PDF, and their offline validation.

* `signer`: `sign_pdf`, a PAdES baseline signature (B-B; B-T with a time-stamping
  authority) appended as one incremental update that covers the whole file.
* `metadata`: the PDF/A metadata (Info and XMP) kept consistent across that update; the
  one module that depends on pyHanko internals.
* `validation`: `validate_pdf`, offline, against explicit trust anchors, with the
  certificate path rules of `reporting.certificates`.
"""

from reporting.errors import PdfSigningError
from reporting.signing.pades.signer import (
    DEFAULT_FIELD_NAME,
    PrivateKey,
    SigningIdentityLike,
    sign_pdf,
)
from reporting.signing.pades.validation import PdfSignatureVerdict, validate_pdf

__all__ = [
    "DEFAULT_FIELD_NAME",
    "PdfSignatureVerdict",
    "PdfSigningError",
    "PrivateKey",
    "SigningIdentityLike",
    "sign_pdf",
    "validate_pdf",
]
