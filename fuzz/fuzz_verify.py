"""atheris: bytes as JSON Lines → `verify_chain`; every outcome must be coded.

The seeds in corpus/verify/ are a chain signed with the key trusted below, so the
fuzzer starts from receipts that verify and mutates its way out.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["reporting"]):
    from reporting.receipts.keys import PublicKey, TrustEntry, TrustStore
    from reporting.receipts.records import RawRecord
    from reporting.receipts.results import Code, Origin, Outcome
    from reporting.receipts.verify import VerifyOptions, verify_chain

SEED_KEY = bytes.fromhex("1a2530155e5ad81aebda92c7885b79f15119d5863cd30c94ab3e546f101f24eb")
OPTIONS = VerifyOptions(
    trust=TrustStore((TrustEntry(None, ("*",), (PublicKey(SEED_KEY, "seed key"),)),), "fuzz"),
    require_terminal=True,
)


def test_one_input(data: bytes) -> None:
    records = [
        RawRecord(raw=line, origin=Origin("fuzz", number))
        for number, line in enumerate(data.split(b"\n"), start=1)
        if line.strip()
    ]
    if not records:
        return
    result, verified = verify_chain(None, records, options=OPTIONS)
    duplicates = sum(1 for p in result.warnings if p.code is Code.DUPLICATE_RECORD)
    assert result.length + duplicates == len(records)
    for problem in (*result.failures, *result.warnings):
        assert isinstance(problem.code, Code)
    for receipt in result.receipts:
        assert (receipt.outcome is Outcome.FAILED) == bool(receipt.failures)
    assert len(verified) <= result.length


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
