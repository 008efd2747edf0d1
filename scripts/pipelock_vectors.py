"""Run our Pipelock verifier on every conformance vector and print each verdict.

    .venv/bin/python scripts/pipelock_vectors.py [VECTORS_DIR]

VECTORS_DIR defaults to ../shared/pipelock/vectors. Each case is a vector (with the
endorsement files it needs) and the keys EXPECTED.md names: TK (test-key.json), RK
(v2-test-keys.json), LK (v3_2_0_live_chain.pub); `TK@proxy` trusts TK only for the
recorder session `proxy` (0.4.1's default `--session-id`). The last columns give the
verdict `pipelock-verify` 0.4.1 gives (EXPECTED.md) and the codes we must report; where
we are stricter the case says why. Exit status 0 when every verdict is as expected, so
`agent-evidence verify` can be checked against the same table once it reads Pipelock.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from reporting.pipelock import (
    PipelockOptions,
    PipelockSource,
    PipelockTrust,
    PipelockVerification,
    load_pipelock_key_file,
    verify_pipelock,
)
from reporting.pipelock.trust import PipelockRecorder

DEFAULT_VECTORS = Path(__file__).resolve().parents[2] / "shared" / "pipelock" / "vectors"
KEY_FILES = {"TK": "test-key.json", "RK": "v2-test-keys.json", "LK": "v3_2_0_live_chain.pub"}
E1, E2 = "g1-rotation-endorsement.json", "g1-rotation-endorsement-2.json"
UNPINNED = "unpinned: signer_key is self-asserted (PIPELOCK.md §6), so never valid"


@dataclass(frozen=True)
class Case:
    files: tuple[str, ...]
    keys: str  # "", "TK", "RK", "LK" or "TK@proxy"
    valid: bool
    codes: frozenset[str] = frozenset()  # codes that must be reported when invalid
    verdict_041: str = ""  # pipelock-verify 0.4.1's verdict, when it differs
    why: str = ""

    @property
    def label(self) -> str:
        return " + ".join(self.files) + (f" [keys {self.keys}]" if self.keys else " [no keys]")


def _case(files: str | tuple[str, ...], keys: str, *codes: str, **kw: str) -> Case:
    names = (files,) if isinstance(files, str) else files
    return Case(names, keys, not codes, frozenset(codes), **kw)


CASES = (
    _case("valid-single.json", "TK"),
    _case("valid-single.json", "", "UNKNOWN_ISSUER_KEY", verdict_041="VALID", why=UNPINNED),
    _case("valid-single.json", "RK", "UNKNOWN_ISSUER_KEY"),
    _case("invalid-signature.json", "TK", "INVALID_SIGNATURE"),
    _case("valid-chain.jsonl", "TK"),
    _case("valid-chain.jsonl", "", "UNKNOWN_ISSUER_KEY", verdict_041="VALID", why=UNPINNED),
    _case("broken-chain.jsonl", "TK", "HASH_LINK_BROKEN"),
    _case(("g1-rotated-close-count-valid.jsonl", E1), "TK"),
    _case("g1-rotated-close-count-valid.jsonl", "TK", "ROTATION_INVALID"),
    _case(("g1-rotated-close-count-valid.jsonl", E1), "TK@proxy", "UNKNOWN_ISSUER_KEY"),
    _case(("g1-rotated-twice-valid.jsonl", E1, E2), "TK"),
    _case(("g1-rotated-twice-valid.jsonl", E1), "TK", "ROTATION_INVALID"),
    _case(E1, "TK", "ROTATION_INVALID", why="an endorsement alone matches no key boundary"),
    _case(E2, "TK", "ROTATION_INVALID", why="an endorsement alone matches no key boundary"),
    _case("valid-evidence-proxy-decision.json", "RK"),
    _case("valid-evidence-proxy-decision.json", "", "UNKNOWN_ISSUER_KEY"),
    _case("valid-evidence-promote-committed.json", "RK"),
    _case("valid-evidence-promote-committed.json", "", "UNKNOWN_ISSUER_KEY"),
    _case("valid-evidence-shadow-delta.json", "RK"),
    _case("valid-evidence-shadow-delta.json", "", "UNKNOWN_ISSUER_KEY"),
    _case("v3_2_0_live_chain.jsonl", "LK"),
    _case("v3_2_0_live_chain.jsonl", "TK", "UNKNOWN_ISSUER_KEY"),
    _case("v3_2_0_live_chain.jsonl", "", "UNKNOWN_ISSUER_KEY", verdict_041="VALID", why=UNPINNED),
    _case("v3_2_0_live_chain.pub", "", "MALFORMED_RECEIPT"),
    _case("test-key.json", "", "MALFORMED_RECEIPT"),
    _case("v2-test-keys.json", "", "MALFORMED_RECEIPT"),
)


def trust_for(keys: str, vectors: Path) -> PipelockTrust:
    if not keys:
        return PipelockTrust()
    name, _, session = keys.partition("@")
    trust = load_pipelock_key_file(vectors / KEY_FILES[name])
    if not session:
        return trust
    return PipelockTrust((PipelockRecorder(None, trust.recorders[0].keys, (session,)),))


def run_case(case: Case, vectors: Path) -> PipelockVerification:
    sources = [PipelockSource((vectors / name).read_bytes(), name) for name in case.files]
    return verify_pipelock(sources, PipelockOptions(trust=trust_for(case.keys, vectors)))


def codes_of(result: PipelockVerification) -> set[str]:
    found = {p.code.value for p in result.input_problems}
    return found | {p.code.value for c in result.chains for p in c.failures}


def check(case: Case, result: PipelockVerification) -> str | None:
    """What is wrong with `result` for `case`, or None."""
    if result.valid != case.valid:
        return f"expected {'VALID' if case.valid else 'INVALID'}"
    missing = case.codes - codes_of(result)
    return f"missing {sorted(missing)}" if missing else None


def main(argv: list[str]) -> int:
    vectors = Path(argv[0]) if argv else DEFAULT_VECTORS
    failed = 0
    for case in CASES:
        result = run_case(case, vectors)
        wrong = check(case, result)
        failed += wrong is not None
        verdict = "VALID" if result.valid else "INVALID " + ",".join(sorted(codes_of(result)))
        note = f"  (0.4.1: {case.verdict_041}; {case.why})" if case.verdict_041 else ""
        print(f"{'ok ' if wrong is None else 'BAD'} {case.label:<88} {verdict}{note}")
        if wrong:
            print(f"    {wrong}")
    print(f"{len(CASES) - failed}/{len(CASES)} vector verdicts as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
