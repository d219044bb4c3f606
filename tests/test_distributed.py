"""Inference and bootstrap on Dask give the serial run's bytes with 1, 2 and 3 workers.

Local clusters of threads (``processes=False``) keep the tests fast; one run uses worker processes
(the default of ``--workers``) so that the tasks are shown to travel by pickle.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from locks import make_lock
from numpy.random import PCG64, Generator, SeedSequence

from her2map import LockedModel
from her2map.cli import main
from her2map.exceptions import Her2MapError
from her2map.parallel import Workers, ordered_map, session, shards
from her2map.predict import exclusions_path, predict_cohort
from her2map.synth import synth
from validation.distributed import block_map
from validation.exceptions import InvalidArgumentError
from validation.stats import bootstrap
from validation.stats.bootstrap import CHUNK
from validation.stats.rank_bootstrap import SortedAUC

pytestmark = pytest.mark.req("REQ-SCALE-001")

THREADS = [Workers(1), Workers(2, processes=False), Workers(3, processes=False)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "cohort"
    # seed 6: 3 HER2-positive surgical specimens among the 10 (after pCR there is none to test)
    synth(out, patients=10, seed=6, workers=1)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    folder = tmp_path_factory.mktemp("lock")
    return LockedModel.load(make_lock(folder, training=["Q-OTHER-1"], validation=["Q-OTHER-2"]))


def test_sharded_inference_has_the_serial_bytes(
    cohort: Path, model: LockedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    for i, workers in enumerate(THREADS):
        out = predict_cohort(cohort, tmp_path / f"run{i}" / "p.csv", model=model, workers=workers)
        outputs.append((out.read_bytes(), exclusions_path(out).read_bytes()))
    # the CLI's --workers (its worker *processes* are exercised below and in bench_scale.py;
    # here threads keep the test fast)
    monkeypatch.setattr(
        "her2map.cli._workers.Workers", lambda n, scheduler: Workers(n, scheduler, processes=False)
    )
    cli = tmp_path / "cli" / "p.csv"
    args = ["predict", "--cohort", str(cohort), "--out", str(cli), "--workers", "2"]
    args.append("--no-response")  # as the library calls above: HER2 scores only
    assert main([*args, "--lock", str(model.lock_path)]) == 0
    outputs.append((cli.read_bytes(), exclusions_path(cli).read_bytes()))
    assert all(o == outputs[0] for o in outputs[1:])
    lines = outputs[0][0].decode().splitlines()
    ids = [line.split(",")[0] for line in lines[1:]]
    assert len(ids) == 10
    assert len(set(ids)) == 10  # no padded or duplicated case


def _slow_square(x: int) -> int:
    time.sleep(0.03 * (6 - x))  # the first items finish last
    return x * x


def test_results_follow_submission_order_not_finishing_order() -> None:
    got = ordered_map(_slow_square, list(range(6)), workers=Workers(3, processes=False))
    assert got == [x * x for x in range(6)]


def test_any_scheduler_address_runs_the_same_map() -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, processes=False, dashboard_address=":0", silence_logs=40
    ) as cluster:
        workers = Workers(scheduler=cluster.scheduler_address)
        got = ordered_map(_slow_square, list(range(6)), workers=workers)
    assert got == [x * x for x in range(6)]
    assert workers.describe() == f"Dask scheduler {cluster.scheduler_address}"


def test_worker_processes_return_results_in_order() -> None:
    """Two worker processes (the default of --workers): tasks and results travel by pickle."""
    got = ordered_map(math.factorial, list(range(30)), workers=Workers(2, processes=True))
    assert got == [math.factorial(x) for x in range(30)]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    y = (rng.random(400) < 0.35).astype(np.int8)
    return y, np.round(rng.normal(size=400) + y, 2).astype(np.float32)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_blocks_identical_with_any_number_of_workers(data, method: str) -> None:
    y, s = data
    results = []
    for workers in THREADS:
        with session(workers) as place:
            est = bootstrap(
                SortedAUC(y, s),
                y,
                s,
                n_resamples=3 * CHUNK + 17,
                seed=11,
                method=method,
                strata=y,
                weighted=True,
                map_blocks=block_map(place),
            )
        results.append(repr(est))
    assert results[1:] == results[:1] * 2
    assert "SeedSequence blocks of 256" in results[0]


def test_block_b_draws_from_the_spawned_seed(data) -> None:
    """Replicates of block 1 are those of ``Generator(PCG64(SeedSequence(seed).spawn(2)[1]))``
    drawing ``rng.integers(0, n, (size, n))`` (the documented scheme, unstratified): positions
    into the units as the statistic lists them (``unit_order``: rows by ascending score)."""
    y, s = data
    seen: list[np.ndarray] = []

    def record(fn, blocks):  # a serial map that keeps the replicates
        out = [fn(b) for b in blocks]
        seen.extend(out)
        return out

    bootstrap(
        SortedAUC(y, s),
        y,
        s,
        n_resamples=CHUNK + 5,
        seed=4,
        method="percentile",
        weighted=True,
        map_blocks=record,
    )
    rng = Generator(PCG64(SeedSequence(4).spawn(2)[1]))
    stat = SortedAUC(y, s)
    rows = stat.unit_order[rng.integers(0, y.size, size=(5, y.size))]
    weights = np.stack([np.bincount(row, minlength=y.size) for row in rows]).astype(float)
    np.testing.assert_array_equal(seen[1][:, 0], stat(weights))  # a block: (size, outputs)


def test_a_map_that_loses_a_block_is_refused(data) -> None:
    y, s = data
    with pytest.raises(InvalidArgumentError, match="map_blocks must be one result per block"):
        bootstrap(
            SortedAUC(y, s),
            y,
            s,
            n_resamples=2 * CHUNK,
            seed=1,
            method="percentile",
            weighted=True,
            map_blocks=lambda fn, blocks: [fn(b) for b in list(blocks)[:1]],
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 0}, "workers must be an integer >= 1"), ({"scheduler": " "}, "scheduler must be")],
)
def test_bad_workers_are_refused(kwargs, match: str) -> None:
    with pytest.raises(Her2MapError, match=match):
        Workers(**kwargs)


@pytest.mark.req("REQ-SCALE-001", "REQ-REPRO-001")
def test_validation_run_has_the_same_numbers_on_workers(
    cohort: Path, model: LockedModel, tmp_path: Path
) -> None:
    from validation.ledger import Ledger
    from validation.protocol import Protocol, register
    from validation.runner import run_protocol

    protocol = Path(__file__).resolve().parents[1] / "protocols" / "HER2-VAL-001.yaml"
    ledger = tmp_path / "ledger.db"
    with Ledger.open(ledger) as book:
        register(Protocol.from_yaml(protocol), book, actor="qe")
    sections = []
    for i, workers in enumerate([Workers(1), Workers(2, processes=False)]):
        with session(workers):
            result = run_protocol(
                protocol,
                cohort=cohort,
                lock=model.lock_path,
                labels=cohort / "clinical.csv",
                ledger=ledger,
                out_dir=tmp_path / f"run{i}",
            )
        r = json.loads(result.results_path.read_bytes())
        pred = (tmp_path / f"run{i}" / "predictions.csv").read_bytes()
        sections.append((pred, r["endpoints"], r["discrimination"], r["calibration"]))
    assert sections[1] == sections[0]
    assert sections[0][2]["band"] is not None


def test_shards_cover_every_item_once_in_order() -> None:
    items = list(range(23))
    assert shards(items, Workers(1)) == [[i] for i in items]  # here: a plain loop, item by item
    for n in (2, 3, 7):
        cut = shards(items, Workers(n, processes=False))
        assert [i for shard in cut for i in shard] == items
        assert len(cut) <= 4 * n
        assert all(cut)  # no empty shard
    assert shards([], Workers(2, processes=False)) == []


def test_headers_are_read_on_the_workers_with_the_serial_outcome(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header scan is sharded too: with 2 or 3 workers no header is read in the calling
    thread, and the cohort (studies, exclusions and their reasons) is the serial one."""
    import shutil

    from her2map.ingest import assemble, load_cohort

    root = tmp_path / "cohort"
    shutil.copytree(cohort, root)
    files = sorted(p for p in (root / "dicom").rglob("*") if p.is_file())
    files[3].write_bytes(files[3].read_bytes()[:200])  # a truncated file: excluded, named
    (root / "dicom" / "notes.txt").write_text("not a DICOM file\n")
    shutil.copy(files[5], root / "dicom" / "copy.dcm")  # a second copy of one instance
    readers: list[int] = []
    read_header = assemble.read_header

    def spy(path: Path) -> object:
        readers.append(threading.get_ident())
        return read_header(path)

    monkeypatch.setattr(assemble, "read_header", spy)
    serial = load_cohort(root)
    assert set(readers) == {threading.get_ident()}
    assert len(serial.file_exclusions) >= 3
    for workers in THREADS[1:]:
        readers.clear()
        with session(workers):
            sharded = load_cohort(root)
        assert len(readers) == serial.n_files
        assert threading.get_ident() not in readers
        assert sharded.studies == serial.studies
        assert sharded.exclusions == serial.exclusions
        assert sharded.n_files == serial.n_files
