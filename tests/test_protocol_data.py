"""The protocol schema and taxonomy shipped in the package are the protocol's own, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporting.receipts.schema import taxonomy_defaults

PACKAGED = Path(__file__).resolve().parents[1] / "reporting" / "data" / "protocol"


@pytest.mark.parametrize(
    ("packaged", "shared"),
    [
        ("agent-receipt.schema.json", "schema/agent-receipt.schema.json"),
        ("action-types.json", "taxonomy/action-types.json"),
    ],
)
def test_packaged_copy_matches_the_protocol(protocol_dir: Path, packaged: str, shared: str) -> None:
    assert (PACKAGED / packaged).read_bytes() == (protocol_dir / shared).read_bytes()


def test_taxonomy_is_loaded() -> None:
    defaults = taxonomy_defaults()
    assert len(defaults) == 46
    assert defaults["filesystem.file.delete"] == "high"
