"""On a Dask cluster, verification gives exactly the results of a local run.

One `distributed.LocalCluster` with two worker processes serves the module. The samples
and a long chain cut into chunks (rotations, tampering, delegation, response bodies)
are verified here and on the cluster, and every chain, receipt, problem and evidence
row must be identical; so must `verify --json`. A scheduler that does not answer, a bad
address and a missing `distributed` are usage errors (exit 2) without a traceback.
"""

from __future__ import annotations

import json
import pickle
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from reporting.cli import build_parser, main
from reporting.cli.arguments import run_settings
from reporting.config import load_config
from reporting.errors import InputError
from reporting.evidence.frame import build_evidence, extract_rows
from reporting.receipts import dask_executor
from reporting.receipts.external import BodiesDirectory, load_grants, load_witnesses
from reporting.receipts.jobs import JobContext
from reporting.receipts.keys import load_trust
from reporting.receipts.results import Code, VerificationResult
from reporting.receipts.sources import spool_sources
from reporting.receipts.verify import VerifyOptions, verify_spool

from .factory import ChainBuilder, Key, rotation_fields
from .helpers import trust

distributed = pytest.importorskip("distributed", reason="the dev extra installs dask")

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
KEY = Key.from_seed("dask-main")
ROTATED = Key.from_seed("dask-rotated")
ATTACKER = Key.from_seed("dask-attacker")


@pytest.fixture(scope="module")
def cluster() -> Any:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster: Any) -> Any:
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


def _snapshot(result: VerificationResult, extracts: list[Any]) -> Any:
    """The verdicts and the evidence frame's rows: everything a report is built from."""
    frame = build_evidence(result, extracts).receipts
    return (
        [chain.to_json() for chain in result.chains],
        [problem.to_json() for problem in result.input_problems],
        frame.astype(object).where(frame.notna(), None).to_dict("records"),
    )


def _verify(path: Path, options: VerifyOptions, **how: Any) -> Any:
    with spool_sources([str(path)]) as spool:
        return _snapshot(*verify_spool(spool, options=options, extract=extract_rows, **how))


def _ran_on_the_cluster(client: Any, run: Any) -> Any:
    """The run's result, and that its batches were tasks on the cluster's workers."""
    with distributed.get_task_stream(client) as stream:
        result = run()
    tasks = [t for t in stream.data if "_run_batch" in str(t["key"])]
    assert tasks, "nothing ran on the cluster"
    return result


def test_the_samples_on_the_cluster_equal_the_local_run(client: Any) -> None:
    options = VerifyOptions(
        trust=load_trust(SAMPLES / "trust.yaml"),
        witnesses=load_witnesses(SAMPLES / "witness.yaml"),
        grants=load_grants(SAMPLES / "grants.yaml"),
        bodies=BodiesDirectory(SAMPLES / "bodies"),
    )
    database = SAMPLES / "receipts.db"
    local = _verify(database, options, workers=1)
    on_cluster = _ran_on_the_cluster(
        client, lambda: _verify(database, options, executor="dask", scheduler=client)
    )
    assert on_cluster == local
    broken = {chain["chain_id"] for chain in local[0] if not chain["valid"]}
    assert len(broken) == 4  # the samples' deliberate defects, so the comparison is not vacuous
    assert len(local[2]) > 3000


# -- a long chain in chunks ---------------------------------------------------------------


def _tsa_root() -> x509.Certificate:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA root")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, None)
    )


def _long_chains(tmp_path: Path) -> tuple[Path, Path]:
    """Chains that exercise every stitching case, and a directory of response bodies."""
    plain = ChainBuilder(KEY, chain_id="plain")
    for number in range(12):
        plain.add(response_body={"n": number} if number in (2, 5, 8) else None)
    child = ChainBuilder(KEY, chain_id="child").extend(4)
    child.add(
        delegation={
            "parent_chain_id": "plain",
            "parent_receipt_id": plain.receipts[1]["id"],
            "delegator": {"id": plain.receipts[0]["issuer"]["id"]},
        }
    )
    rotating = ChainBuilder(KEY, chain_id="rotating").extend(3)
    rotating.add("agent.key.rotate", "high", key_rotation=rotation_fields(KEY, ROTATED))
    rotating.extend(6, key=ROTATED)  # not in the trust store: chunks are re-walked
    tampered = ChainBuilder(KEY, chain_id="tampered").extend(9).receipts
    tampered[4]["credentialSubject"]["action"]["risk_level"] = "low"
    terminal = ChainBuilder(KEY, chain_id="terminal").extend(2)
    terminal.add(terminal=True)
    terminal.extend(4)
    untrusted = ChainBuilder(ATTACKER, chain_id="untrusted").extend(5).receipts
    chains = [plain.receipts, child.receipts, rotating.receipts, tampered, terminal.receipts]
    path = tmp_path / "chains.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for chain in [*chains, untrusted] for r in chain))
    bodies = tmp_path / "bodies"
    bodies.mkdir()

    def uuid(receipt: dict[str, Any]) -> str:
        return str(receipt["id"]).removeprefix("urn:receipt:")

    (bodies / f"{uuid(plain.receipts[2])}.json").write_text('{"n": 2}')  # matches
    (bodies / f"{uuid(plain.receipts[5])}.json").write_text('{"n": "five"}')  # does not
    (bodies / f"{uuid(plain.receipts[3])}.json").write_text("not json")  # never asked for
    return path, bodies


def test_a_chunked_long_chain_on_the_cluster_equals_the_whole_walk(
    tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, bodies = _long_chains(tmp_path)
    options = VerifyOptions(
        trust=trust(KEY.raw),
        bodies=BodiesDirectory(bodies),
        tsa_roots=(_tsa_root(),),
        witnesses={},
    )
    whole = _verify(path, options, workers=1)
    codes = {p["code"] for chain in whole[0] for p in chain["failures"]}
    assert {
        Code.RESPONSE_HASH_MISMATCH.value,
        Code.INVALID_SIGNATURE.value,
        Code.RECEIPT_AFTER_TERMINAL.value,
    } <= codes
    rotating = next(chain for chain in whole[0] if chain["chain_id"] == "rotating")
    assert rotating["valid"]
    assert rotating["rotations"]  # handed over to the announced key

    # One job per task and at most two tasks in flight: order must still be job order,
    # and the parent must never read far ahead of what it has collected.
    monkeypatch.setattr(dask_executor, "BATCH_RECORDS", 1)
    monkeypatch.setattr(dask_executor, "IN_FLIGHT_PER_THREAD", 1)
    read: list[int] = []
    ahead: list[int] = []
    payload = dask_executor._payload

    def counting(context: Any, job: Any) -> Any:
        read.append(1)
        return payload(context, job)

    monkeypatch.setattr(dask_executor, "_payload", counting)
    chunked = _ran_on_the_cluster(
        client,
        lambda: _verify(
            path,
            options,
            executor="dask",
            scheduler=client.scheduler.address,  # by address: its own client, closed after
            chunk_size=3,
            progress=lambda _: ahead.append(len(read) - len(ahead) - 1),
        ),
    )
    assert chunked == whole
    assert len(read) > 15  # the long chains really were cut into many jobs
    assert max(ahead) <= 2  # jobs read but not yet collected: the in-flight limit


def test_a_body_that_is_not_json_fails_alike(tmp_path: Path, client: Any) -> None:
    path, bodies = _long_chains(tmp_path)
    receipt = json.loads(path.read_text().splitlines()[5])  # plain #6, with a response_hash
    (bodies / f"{receipt['id'].removeprefix('urn:receipt:')}.json").write_text("{oops")
    options = VerifyOptions(trust=trust(KEY.raw), bodies=BodiesDirectory(bodies))
    local = _verify(path, options, workers=1)
    on_cluster = _verify(path, options, executor="dask", scheduler=client)
    assert on_cluster == local
    codes = {p["code"] for chain in local[0] for p in chain["failures"]}
    assert Code.RESPONSE_BODY_UNVERIFIABLE.value in codes


def test_a_body_that_cannot_be_read_fails_alike(tmp_path: Path, client: Any) -> None:
    path, bodies = _long_chains(tmp_path)
    receipt = json.loads(path.read_text().splitlines()[5])  # plain #6, with a response_hash
    body = bodies / f"{receipt['id'].removeprefix('urn:receipt:')}.json"
    body.unlink()
    body.mkdir()
    options = VerifyOptions(trust=trust(KEY.raw), bodies=BodiesDirectory(bodies))
    with pytest.raises(InputError) as local:
        _verify(path, options, workers=1)
    with pytest.raises(InputError) as on_cluster:
        _verify(path, options, executor="dask", scheduler=client)
    assert str(on_cluster.value) == str(local.value)
    assert "not a regular file" in str(local.value)


def test_the_context_travels_without_files_and_with_its_certificates() -> None:
    root = _tsa_root()
    with spool_sources([str(SAMPLES / "receipts.db")]) as spool:
        options = VerifyOptions(
            trust=trust(KEY.raw), tsa_roots=(root,), bodies=BodiesDirectory(SAMPLES / "bodies")
        )
        context = JobContext(options, frozenset(), extract_rows, spool)
        arrived = pickle.loads(pickle.dumps(dask_executor._SharedContext(context))).context
    assert arrived.options.tsa_roots == (root,)
    assert arrived.options.bodies is None  # bodies travel with each job
    assert arrived.options.trust == options.trust
    assert arrived.extract is extract_rows
    with pytest.raises(RuntimeError, match="cannot read the spool"):
        arrived.records.records_for("plain")


# -- the command line ---------------------------------------------------------------------

SAMPLE_ARGS = [
    "verify",
    str(SAMPLES / "receipts.db"),
    "--keys",
    str(SAMPLES / "trust.yaml"),
    "--witness",
    str(SAMPLES / "witness.yaml"),
    "--json",
]


def test_verify_json_on_the_cluster_equals_the_local_output(
    cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SAMPLE_ARGS, "--workers", "1"]) == 1
    local = capsys.readouterr().out
    address = cluster.scheduler_address
    assert main([*SAMPLE_ARGS, "--executor", "dask", "--scheduler", address]) == 1
    on_cluster = capsys.readouterr()
    assert on_cluster.out == local
    assert json.loads(local)["summary"]["broken_chains"] == 2  # tampered, gap (no --grants)
    assert "Traceback" not in on_cluster.err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_scheduler_is_a_usage_error_before_any_input_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    missing = tmp_path / "not-read-yet.jsonl"  # reading it would be another error
    argv = ["verify", str(missing), "--keys", str(SAMPLES / "trust.yaml")]
    assert main([*argv, "--executor", "dask", "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert f"{address}: cannot reach the Dask scheduler within 1 s" in err
    assert "[SCHEDULER_UNREACHABLE]" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (["--executor", "dask", "--scheduler", "no-port-here"], "SCHEDULER_INVALID"),
        (["--executor", "dask"], "SCHEDULER_MISSING"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "SCHEDULER_WITHOUT_DASK"),
    ],
)
def test_inconsistent_executor_options_are_usage_errors(
    flags: list[str], code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SAMPLE_ARGS, *flags]) == 2
    err = capsys.readouterr().err
    assert f"[{code}]" in err
    assert "Traceback" not in err


def test_without_distributed_dask_is_a_usage_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = tmp_path / "chain.jsonl"
    chain.write_text("".join(json.dumps(r) + "\n" for r in ChainBuilder(KEY).extend(3).receipts))
    argv = ["verify", str(chain), "--keys", str(KEY.write_pem(tmp_path / "key.pem")), "--json"]
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    assert main([*argv, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert "[dask]" in err
    assert "agent-evidence[" not in err  # never the unrelated project on the public index
    assert "[DASK_NOT_INSTALLED]" in err
    assert main(argv) == 0  # the local executor does not need it
    assert json.loads(capsys.readouterr().out)["summary"]["receipts"] == 3


def test_the_tool_does_not_import_distributed_unless_asked() -> None:
    code = (
        "import sys, reporting.cli, reporting.pipeline, reporting.receipts.verify; "
        "print('distributed' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_the_config_file_chooses_the_executor_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "report.yaml"
    config.write_text(
        "schema: agent-evidence/config/v1\nsources: [receipts.db]\nkeys: trust.yaml\n"
        "executor: dask\nscheduler: tcp://scheduler.example:8786\n"
    )
    loaded = load_config(config)
    assert (loaded.executor, loaded.scheduler) == ("dask", "tcp://scheduler.example:8786")
    args = build_parser().parse_args(["report", "--config", str(config)])
    request = run_settings(args).verify
    assert (request.executor, request.scheduler) == ("dask", "tcp://scheduler.example:8786")
    argv = ["report", "--config", str(config), "--scheduler", "tcp://127.0.0.1:9999"]
    args = build_parser().parse_args(argv)
    assert run_settings(args).verify.scheduler == "tcp://127.0.0.1:9999"
    config.write_text(config.read_text().replace("executor: dask", "executor: spark"))
    with pytest.raises(InputError, match="executor"):
        load_config(config)
