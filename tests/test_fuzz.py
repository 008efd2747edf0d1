"""Fuzzing with hypothesis: whatever the bytes or the tree, ingestion, verification, the
mapping loader, the config loader and the trust store, witness and grants loaders end in
a result or a coded error (an `EvidenceError`, or the verifier's coded `Problem`s), never
another exception; no record is lost or invented on the way; and a receipt whose signed
content changed never passes. (Canonicalisation against `rfc8785`, and arbitrary bytes
into `parse_receipt`: test_canonical_properties.py.)"""

from __future__ import annotations

import copy
import functools
import io
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reporting.cli import main
from reporting.config import ReportConfig, load_config
from reporting.controls.loader import load_mappings
from reporting.errors import EvidenceError
from reporting.receipts.canonical import MalformedReceiptError, parse_receipt
from reporting.receipts.external import load_grants, load_witnesses
from reporting.receipts.keys import load_trust
from reporting.receipts.results import Code, Outcome, VerificationResult
from reporting.receipts.sources import SQLITE_MAGIC, spool_sources
from reporting.receipts.verify import VerifyOptions, verify_chain, verify_spool

from .factory import ChainBuilder, Key, write_store
from .helpers import examples, records, trust

KEY = Key.from_seed("fuzz")
CHAIN = ChainBuilder(KEY, chain_id="chain_fuzz").extend(3).receipts
CHAIN_LINES = [json.dumps(doc).encode() for doc in CHAIN]
ORIGINAL_CANONICAL = [parse_receipt(line).canonical for line in CHAIN_LINES]
OPTIONS = VerifyOptions(trust=trust(KEY.raw))


def fuzz(count: int) -> settings:
    """`count` examples scaled to the hypothesis profile (conftest.py), no deadline."""
    return settings(
        max_examples=examples(count),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# -- strategies ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond what a double holds, too
    | st.floats()  # NaN and infinities included: json.dumps writes them as bare words
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["2026-10", "2026-13", "last-month", "2026-W99", "x" * 300, "", "~"])
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)

SPECIAL_LINES = [
    b'{"a": NaN}',
    b'{"a": Infinity, "b": -Infinity}',
    b'{"id": "urn:receipt:x", "id": "urn:receipt:y"}',
    b'{"a": "\xff\xfe invalid utf-8"}',
    b'{"a": "\\ud800 lone surrogate"}',
    b'{"a": 123456789012345678901234567890}',
    b"[" * 100 + b"]" * 100,
    b'{"credentialSubject": {"chain": {"chain_id": "chain_fuzz", "sequence": 2}}}',
    b'{"credentialSubject": {"chain": {"chain_id": ["not", "a", "string"]}}}',
    b"\x00\x01\x02",
    b"\xef\xbb\xbf" + CHAIN_LINES[0],  # a byte-order mark before a good receipt
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _at(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def mutate(tree: Any, data: st.DataObject, values: st.SearchStrategy[Any]) -> Any:
    """One to three structural mutations: replace, delete, insert or duplicate a node."""
    tree = copy.deepcopy(tree)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(list(_paths(tree))), label="path")
        operation = data.draw(st.sampled_from(["replace", "delete", "insert", "duplicate"]))
        node = _at(tree, path)
        if operation == "insert" and isinstance(node, dict):
            node[data.draw(st.text(max_size=8), label="new key")] = data.draw(values)
        elif operation == "insert" and isinstance(node, list):
            node.insert(data.draw(st.integers(0, len(node))), data.draw(values))
        elif operation == "duplicate" and isinstance(node, list) and node:
            node.append(copy.deepcopy(data.draw(st.sampled_from(node))))
        elif not path:
            tree = data.draw(values, label="new root")
        else:
            parent, key = _at(tree, path[:-1]), path[-1]
            if operation == "delete":
                del parent[key]
            else:
                parent[key] = data.draw(values, label="new value")
    return tree


def mutated_receipt_line(data: st.DataObject) -> bytes:
    doc = mutate(CHAIN[data.draw(st.integers(0, len(CHAIN) - 1))], data, json_values)
    ascii_only = data.draw(st.booleans(), label="ensure_ascii")
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """A JSON Lines file: good receipts, mutated ones, known traps and noise."""
    data = draw(st.data())
    kinds = st.sampled_from(["good", "mutated", "special", "text", "bytes"])
    lines = []
    for kind in draw(st.lists(kinds, max_size=8)):
        if kind == "good":
            lines.append(draw(st.sampled_from(CHAIN_LINES)))
        elif kind == "mutated":
            lines.append(mutated_receipt_line(data))
        elif kind == "special":
            lines.append(draw(st.sampled_from(SPECIAL_LINES)))
        elif kind == "text":
            lines.append(draw(st.text(max_size=60)).encode("utf-8", "surrogatepass"))
        else:
            lines.append(draw(st.binary(max_size=60)))
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    return ending.join(lines) + draw(st.sampled_from([b"", ending]))


# -- ingestion and verification -----------------------------------------------------------


def _verify(sources: list[str], stdin: bytes | None = None) -> tuple[VerificationResult, int]:
    stream = io.BytesIO(stdin) if stdin is not None else None
    with spool_sources(sources, stdin=stream) as spool:
        count = spool.record_count()
        result, _ = verify_spool(spool, options=OPTIONS)
    return result, count


def assert_coded_and_accounted(result: VerificationResult, spooled: int, exact: bool) -> None:
    """Every problem carries a code; every spooled record is a receipt result, a counted
    duplicate, or an input problem (`exact`: and nothing else is an input problem)."""
    problems = [*result.input_problems]
    problems += [p for c in result.chains for p in (*c.failures, *c.warnings)]
    assert all(isinstance(p.code, Code) for p in problems)
    for chain in result.chains:
        for receipt in chain.receipts:
            assert all(isinstance(code, Code) for code in (*receipt.failures, *receipt.warnings))
            assert (receipt.outcome is Outcome.FAILED) == bool(receipt.failures)
    duplicates = sum(
        1 for c in result.chains for p in c.warnings if p.code is Code.DUPLICATE_RECORD
    )
    # a problem with a line or a rowid is about one record; without, about a whole source
    about_records = [
        p
        for p in result.input_problems
        if p.origin and (p.origin.line is not None or p.origin.rowid is not None)
    ]
    seen = sum(c.length for c in result.chains) + duplicates + len(about_records)
    assert seen == spooled if exact else seen >= spooled


def _expected_records(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


@fuzz(80)
@given(json_lines())
@example(b"\n".join(CHAIN_LINES) + b"\n")
@example(b"\n".join(SPECIAL_LINES))
@example(SQLITE_MAGIC)
def test_json_lines_in_any_state_are_verified_and_accounted_for(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.jsonl"
        path.write_bytes(data)
        result, spooled = _verify([str(path)])
    if data.startswith(SQLITE_MAGIC):  # sniffed as a store, whatever the suffix says
        assert spooled == 0
        assert [p.origin.source for p in result.input_problems] == [str(path)]
    else:
        assert spooled == _expected_records(data)
    assert_coded_and_accounted(result, spooled, exact=True)
    if data == b"\n".join(CHAIN_LINES) + b"\n":
        assert result.valid  # the property is not vacuous: good input passes


@fuzz(40)
@given(json_lines() | st.binary(max_size=200))
def test_the_same_bytes_on_stdin(data: bytes) -> None:
    result, spooled = _verify(["-"], stdin=data)
    assert spooled == _expected_records(data)
    assert_coded_and_accounted(result, spooled, exact=True)


@fuzz(60)
@given(st.data())
@example(data=None)  # the explicit shapes below
def test_arbitrary_json_files(data: st.DataObject | None) -> None:
    if data is None:
        shapes = [b"[" + b",".join(CHAIN_LINES) + b"]", b"[]", b"", b"[" * 50, b'[{"a": 1},']
    else:
        lines = data.draw(json_lines())
        shapes = [
            b"[" + lines.replace(b"\n", b",\n") + b"]",  # an array, maybe broken
            lines,  # one object, or not
            data.draw(st.binary(max_size=200)),
        ]
    with tempfile.TemporaryDirectory() as directory:
        for number, shape in enumerate(shapes):
            path = Path(directory) / f"fuzz-{number}.json"
            path.write_bytes(shape)
            result, spooled = _verify([str(path)])
            assert_coded_and_accounted(result, spooled, exact=False)


@functools.cache
def store_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        return write_store(Path(directory) / "r.db", CHAIN).read_bytes()


@fuzz(50)
@given(st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=12))
@example(changes=[(7792, 128)])  # a chain id no longer UTF-8: its record was lost
def test_a_store_with_random_bytes_changed(changes: list[tuple[int, int]]) -> None:
    damaged = bytearray(store_bytes())
    for offset, value in changes:
        damaged[offset % len(damaged)] = value
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "damaged.db"
        path.write_bytes(bytes(damaged))
        result, spooled = _verify([str(path)])
        assert path.read_bytes() == damaged  # the store was only ever read
    assert_coded_and_accounted(result, spooled, exact=True)
    if not changes:
        assert result.valid
        assert result.receipt_count == 3


@fuzz(200)
@given(st.data())
def test_a_receipt_whose_signed_content_changed_never_passes(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(CHAIN) - 1), label="receipt")
    doc = mutate(CHAIN[index], data, json_values)
    raw = json.dumps(doc, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    lines = [*CHAIN_LINES]
    lines[index] = raw
    result, _ = verify_chain("chain_fuzz", records(lines), options=OPTIONS)
    assert_coded_and_accounted(VerificationResult(chains=(result,)), len(lines), exact=True)
    try:
        canonical = parse_receipt(raw).canonical
    except MalformedReceiptError:
        canonical = None
    verdict = next((r for r in result.receipts if r.origin.line == index + 1), None)
    if canonical != ORIGINAL_CANONICAL[index]:
        assert verdict is not None
        assert verdict.outcome is Outcome.FAILED, (doc, verdict)
    elif raw == CHAIN_LINES[index]:
        assert result.valid


# -- the command line, stdin to exit code -------------------------------------------------


@fuzz(25)
@given(data=json_lines())
def test_cli_verify_on_stdin_exits_zero_or_one(
    data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key.pem"
    if not key.exists():
        KEY.write_pem(key)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code = main(["verify", "-", "--keys", str(key), "--json"])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    assert "internal error" not in captured.err
    document = json.loads(captured.out)
    assert document["valid"] is (code == 0)


# -- YAML inputs: mappings, configuration, trust store, witness, grants -------------------

GOOD_MAPPING: dict[str, Any] = {
    "schema": "agent-evidence/mapping/v1",
    "framework": {
        "id": "demo",
        "title": "Demo framework",
        "version": "1.0",
        "source": "https://example.org/demo",
        "retrieved": "2026-11-01",
    },
    "controls": [
        {
            "id": "D-1",
            "title": "Logs are intact",
            "requirement": {"text": "Logs shall be tamper-evident.", "quote": "verbatim"},
            "checks": [
                {"check": "chain_integrity"},
                {"check": "log_retention", "params": {"min_months": 6}},
                {
                    "check": "working_hours",
                    "role": "supporting",
                    "params": {"producers": [{"issuer": "did:agent:*", "always": True}]},
                },
            ],
            "manual_evidence": ["Logging design document"],
            "crosswalks": {"other": ["X-1"]},
        },
        {
            "id": "D-2",
            "title": "A policy",
            "requirement": {"text": "There is a policy.", "quote": "summary"},
            "manual_evidence": ["The policy"],
        },
    ],
}
GOOD_CONFIG: dict[str, Any] = {
    "schema": "agent-evidence/config/v1",
    "organisation": "Example Corp",
    "sources": ["store.db", "-"],
    "keys": "trust.yaml",
    "witness": "witness.yaml",
    "frameworks": ["soc2", "./internal.yaml"],
    "period": "2026-10",
    "output": {"directory": "out", "formats": ["pdf", "json"]},
    "signing": {"key": "k.pem", "certificate": "c.pem", "passphrase_env": "PASS"},
    "checks": {
        "overrides": [
            {
                "framework": "soc2",
                "control": "CC7.2",
                "check": "burst_detection",
                "params": {"max_per_minute": 20},
            }
        ]
    },
    "deployment": {
        "producers": [
            {
                "issuer": "did:agent:*",
                "timezone": "Europe/Berlin",
                "working_hours": {"start": "07:00", "end": "19:00", "weekdays": [1, 2, 3, 4, 5]},
                "operating_days": [1, 2, 3, 4, 5],
                "conversational": True,
                "inventory": {"models": ["model-*"]},
            }
        ]
    },
    "fail_on": "integrity",
    "workers": 2,
}
GOOD_TRUST: dict[str, Any] = {
    "version": 1,
    "issuers": [
        {"issuer": "did:agent:a", "chains": ["chain_*"], "keys": [{"pem": KEY.public_pem}]},
        {"issuer": "did:agent:b", "keys": [{"pem_file": "key.pem"}, {"multibase": "u" + "A" * 43}]},
    ],
}
GOOD_WITNESS: dict[str, Any] = {
    "version": 1,
    "chains": {"chain_fuzz": {"length": 3, "final_hash": "sha256:" + "0" * 64}},
}
GOOD_GRANTS: dict[str, Any] = {
    "version": 1,
    "grants": {"g-1": {"subject": "did:user:alice", "scopes": ["payments:write"]}},
}

YAML_TRAPS = [
    "a: &x [1]\nb: *x\n",
    "a: 1\na: 2\n",
    "a: !!python/object/apply:os.system ['true']\n",
    "!!binary aGVsbG8=\n",
    "---\na: 1\n---\nb: 2\n",
    "[" * 300 + "]" * 300,
    "{a: " * 300 + "1" + "}" * 300,
    "".join("  " * i + "k:\n" for i in range(200)),
    "? [complex, key]\n: value\n",
    "{[1, 2]: x, {a: 1}: y}\n",
    "a: .nan\nb: .inf\nc: -.inf\n",
    "\ufeffschema: x\n",
    "a: \x00\n",
    "a:\tb\n",
    "<<: {a: 1}\n",
    "version: 1\nissuers: 1e999\n",
]

LoadYaml = Callable[[Path], Any]


def _load_mapping(path: Path) -> Any:
    return load_mappings([path])


LOADERS: dict[str, tuple[LoadYaml, dict[str, Any]]] = {
    "mapping": (_load_mapping, GOOD_MAPPING),
    "config": (load_config, GOOD_CONFIG),
    "trust": (load_trust, GOOD_TRUST),
    "witness": (load_witnesses, GOOD_WITNESS),
    "grants": (load_grants, GOOD_GRANTS),
}


def _load(loader: LoadYaml, data: bytes) -> Any:
    """Write, load; any exception but a coded one fails the test."""
    with tempfile.TemporaryDirectory() as directory:
        KEY.write_pem(Path(directory) / "key.pem")
        path = Path(directory) / "input.yaml"
        path.write_bytes(data)
        try:
            return loader(path)
        except EvidenceError as error:
            diagnostics = error.diagnostics()
            assert diagnostics
            assert all(d.code and d.message for d in diagnostics)
            return error


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_the_unmutated_trees_load(name: str) -> None:
    """The base trees are valid, so the mutations below start from real documents."""
    loader, tree = LOADERS[name]
    loaded = _load(loader, yaml.safe_dump(tree).encode())
    assert not isinstance(loaded, EvidenceError), loaded
    if name == "config":
        assert isinstance(loaded, ReportConfig)


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize("trap", YAML_TRAPS)
def test_yaml_traps_are_coded_errors(name: str, trap: str) -> None:
    loaded = _load(LOADERS[name][0], trap.encode("utf-8", "surrogatepass"))
    assert isinstance(loaded, EvidenceError)


@pytest.mark.parametrize("name", sorted(LOADERS))
@fuzz(60)
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_yaml_text(name: str, text: str | bytes) -> None:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    _load(LOADERS[name][0], raw)


@pytest.mark.parametrize("name", sorted(LOADERS))
@fuzz(80)
@given(data=st.data())
def test_structurally_valid_but_wrong_trees(name: str, data: st.DataObject) -> None:
    loader, tree = LOADERS[name]
    wrong = mutate(tree, data, yaml_values)
    _load(loader, yaml.safe_dump(wrong, allow_unicode=data.draw(st.booleans())).encode())
