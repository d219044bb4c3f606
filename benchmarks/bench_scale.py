"""Scale: synth + predict + VAL-001 at 10^3, 10^4 and 10^5 patients; Dask at 1 and 2 workers.

What runs at each size (each size in its own subprocess, so its peak memory is its own):

* **DICOM sizes** (``--dicom``, default 10^3 patients): ``her2map synth`` writes the DICOM cohort,
  :func:`her2map.predict.predict_cohort` ingests and scores it with the shipped locked model, and
  HER2-VAL-001 runs on its predictions (:func:`validation.runner.run_protocol`).
* **Tensor sizes** (the others, default 10^4 and 10^5): writing and decoding 10^5 DICOM studies
  is hours of CPU on this machine, and so are 10^5 tumour simulations and network passes (about
  10 and 30 ms a patient on 2 busy cores). These sizes therefore *sample*: the clinical and truth
  tables of ``--sample`` patients (``simulate_clinical``: the same rows as ``synth``, no images)
  and the locked network on synthetic input tensors of the model's own shapes for them (batches of
  256, ``predict-from-tensors``; decoding and preprocessing excluded) are timed and scaled to the
  size (marked ``~``); the sample's rows are then repeated under new patient ids to the full size,
  and HER2-VAL-001 runs on the full table (timed, not scaled) at every size up to
  ``--validate-max`` patients (default 10^5: about 15 s there, its ROC band -- 19 specificities
  read off one set of 2,000 bootstrap replicates drawn from the sort -- a few seconds of it).

At the Dask size (``--dask``, default 1,000 patients, DICOM) predict + VAL-001 run serially and on
a local Dask cluster of 1 and 2 worker processes (``her2map.parallel.session``); the bytes of the
predictions and the numbers of results.json must be identical. Predict and validate run twice in
each session (the first pass warms up: workers import torch and load and verify the lock, the
first validation imports its stack); the speed-ups at 2 workers are printed for the whole session
(start-up, both passes and close) and for the warm predict and validate (2 cores: at most 2x;
predict shards the header scan and the scoring by file and by patient; the calling process
assembles the studies and writes the table, and the scheduler shares the cores).

Prints seconds per stage, seconds per patient and the peak resident memory (``ru_maxrss`` of the
size's process and, for Dask, its worker processes). Usage:
``python benchmarks/bench_scale.py [--quick] [--sizes 1000 10000 100000] [--dicom 1000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "HER2-VAL-001.yaml"
SEED = 424242


def _peak_mib() -> tuple[float, float]:
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kib / 1024, kids_kib / 1024


def _validate(base: Path, predictions: Path, labels: Path, tag: str) -> tuple[float, Path]:
    from validation.ledger import Ledger
    from validation.protocol import Protocol, register
    from validation.runner import run_protocol

    ledger = base / f"ledger-{tag}.db"
    with Ledger.open(ledger) as book:
        register(Protocol.from_yaml(PROTOCOL), book, actor="bench")
    t0 = time.perf_counter()
    result = run_protocol(
        PROTOCOL, predictions=predictions, labels=labels, ledger=ledger, out_dir=base / tag
    )
    return time.perf_counter() - t0, result.results_path


def _tensor_predictions(base: Path, n: int, sample: int) -> tuple[dict[str, float], Path, Path]:
    """Sampled clinical tables and network passes (scaled to ``n``), the full-size tables."""
    import numpy as np
    import pandas as pd
    import torch

    from her2map import LockedModel
    from her2map.model import deterministic_torch
    from her2map.preprocess import MODALITY_KEYS
    from her2map.synth import DEFAULT_PARAMS, simulate_clinical

    m = min(n, sample)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    clinical, _ = simulate_clinical(m, SEED, DEFAULT_PARAMS)
    times["synth"] = (time.perf_counter() - t0) * n / m

    model = LockedModel.load()
    config = model.preprocessing
    gen = torch.Generator().manual_seed(SEED)
    scores = np.empty(m)
    t0 = time.perf_counter()
    with deterministic_torch(), torch.inference_mode():
        for start in range(0, m, 256):
            b = min(256, m - start)
            inputs = {
                k: torch.rand((b, *config.input_shape(k)), generator=gen) for k in MODALITY_KEYS
            }
            mask = torch.ones((b, len(MODALITY_KEYS)), dtype=torch.bool)
            scores[start : start + b] = torch.sigmoid(model.network(inputs, mask).logits).numpy()
    times["predict"] = (time.perf_counter() - t0) * n / m
    table = clinical[["patient_id", "site"]].copy()
    table["score"] = [repr(float(s)) for s in scores]
    table["modalities"] = "+".join(MODALITY_KEYS)  # every modality was fed to the network
    table["model_lock"] = model.lock_hash
    copies = -(-n // m)
    rename = [f"{pid}-{k}" for k in range(copies) for pid in clinical["patient_id"]][:n]
    labels, predictions = base / "clinical.csv", base / "predictions.csv"
    for frame, path in ((clinical, labels), (table, predictions)):
        full = pd.concat([frame] * copies, ignore_index=True).iloc[:n].copy()
        full["patient_id"] = rename
        full.to_csv(path, index=False)
    return times, predictions, labels


def one_size(n: int, dicom: bool, sample: int, validate: bool) -> dict[str, Any]:
    """Run one size in this process; return its figures."""
    from her2map import LockedModel
    from her2map.predict import predict_cohort
    from her2map.synth import synth

    base = Path(tempfile.mkdtemp(prefix=f"bench-scale-{n}-"))
    if dicom:
        t0 = time.perf_counter()
        synth(base / "cohort", patients=n, seed=SEED)
        times = {"synth": time.perf_counter() - t0}
        t0 = time.perf_counter()
        predictions = predict_cohort(base / "cohort", base / "p.csv", model=LockedModel.load())
        times["predict"] = time.perf_counter() - t0
        labels = base / "cohort" / "clinical.csv"
    else:
        times, predictions, labels = _tensor_predictions(base, n, sample)
    times["validate"] = _validate(base, predictions, labels, "run")[0] if validate else float("nan")
    own, kids = _peak_mib()
    return {"n": n, "dicom": dicom, "times": times, "peak_mib": own, "children_mib": kids}


def dask_compare(n: int) -> dict[str, Any]:
    """predict + VAL-001 serially and on 1 and 2 local worker processes: times, same bytes."""
    from her2map import LockedModel
    from her2map.parallel import Workers, session
    from her2map.predict import predict_cohort
    from her2map.synth import synth

    base = Path(tempfile.mkdtemp(prefix=f"bench-dask-{n}-"))
    synth(base / "cohort", patients=n, seed=SEED)
    model = LockedModel.load()
    out: dict[str, Any] = {"n": n, "runs": {}}
    reference: tuple[bytes, Any] | None = None
    runs = (("serial", Workers(1)), ("dask 1", Workers(1, cluster=True)), ("dask 2", Workers(2)))
    for label, workers in runs:
        t0 = time.perf_counter()
        with session(workers):
            tag = label.replace(" ", "-")
            # The first pass warms the session up (worker processes import torch and load and
            # verify the lock; the first validation imports its stack); the second is timed.
            cold = predict_cohort(base / "cohort", base / f"cold-{tag}.csv", model=model)
            _validate(base, cold, base / "cohort" / "clinical.csv", f"cold-{tag}")
            t1 = time.perf_counter()
            predictions = predict_cohort(base / "cohort", base / f"p-{tag}.csv", model=model)
            t2 = time.perf_counter()
            _, results = _validate(base, predictions, base / "cohort" / "clinical.csv", tag)
            t3 = time.perf_counter()
            if cold.read_bytes() != predictions.read_bytes():
                raise RuntimeError(f"{label}: the warm pass wrote other bytes than the cold one")
        r = json.loads(results.read_bytes())
        result = (predictions.read_bytes(), (r["endpoints"], r["discrimination"], r["calibration"]))
        if reference is None:
            reference = result
        out["runs"][label] = {
            "seconds": time.perf_counter() - t0,
            "predict": t2 - t1,
            "validate": t3 - t2,
            "identical": result == reference,
        }
    return out


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10^2 (DICOM) and 10^3 (tensors) patients only"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--dicom", type=int, default=1000, help="largest size synthesized as DICOM")
    parser.add_argument("--dask", type=int, default=1000, help="patients of the Dask comparison")
    parser.add_argument(
        "--sample", type=int, default=1000, help="patients simulated and scored at tensor sizes"
    )
    parser.add_argument(
        "--validate-max", type=int, default=100_000, help="largest size HER2-VAL-001 runs at"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dask-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        figures = one_size(
            args.one, args.one <= args.dicom, args.sample, args.one <= args.validate_max
        )
        print(json.dumps(figures))
        return 0
    if args.dask_one is not None:
        print(json.dumps(dask_compare(args.dask_one)))
        return 0
    sizes = args.sizes or ([100, 1000] if args.quick else [1000, 10_000, 100_000])
    if args.quick:
        args.dicom = min(args.dicom, 100)
    dask_n = 40 if args.quick else args.dask
    print("scale: synth + predict + HER2-VAL-001 (seconds; s/patient; peak resident memory)")
    print(
        f"  {'patients':>9} {'images':>8} {'synth':>9} {'predict':>9} {'validate':>9} "
        f"{'s/patient':>10} {'peak MiB':>9}"
    )
    for n in sizes:
        child = ["--one", str(n), "--dicom", str(args.dicom), "--sample", str(args.sample)]
        child += ["--validate-max", str(args.validate_max)]
        fig = _child(child)
        t = fig["times"]
        ran = t["validate"] == t["validate"]  # nan: not run at this size
        total = t["synth"] + t["predict"] + (t["validate"] if ran else 0.0)
        kind, mark = ("DICOM", " ") if fig["dicom"] else ("tensors", "~")
        shown = f"{t['validate']:.2f}" if ran else "not run"
        print(
            f"  {n:>9,} {kind:>8} {mark}{t['synth']:>8.2f} {mark}{t['predict']:>8.2f} "
            f"{shown:>9} {mark}{total / n:>9.5f} "
            f"{fig['peak_mib']:>9.0f}{'' if ran else '  (s/patient without validate)'}"
        )
    print(
        f"  (tensors: no DICOM written or decoded; predict = the locked network on synthetic "
        f"input tensors in batches of 256; ~ = timed on {args.sample:,} patients and scaled; "
        "validate always runs on the full table)"
    )
    fig = _child(["--dask-one", str(dask_n)])
    print(f"\nDask: predict + HER2-VAL-001 on {dask_n} DICOM patients (same bytes required)")
    first = fig["runs"]["serial"]
    print(
        f"  {'run':<8} {'total [s]':>10} {'speed-up':>9} {'predict [s]':>12} {'speed-up':>9}"
        f" {'validate [s]':>13} {'speed-up':>9}"
    )
    for label, run in fig["runs"].items():
        print(
            f"  {label:<8} {run['seconds']:>10.2f} {first['seconds'] / run['seconds']:>8.2f}x"
            f" {run['predict']:>12.2f} {first['predict'] / run['predict']:>8.2f}x"
            f" {run['validate']:>13.2f} {first['validate'] / run['validate']:>8.2f}x"
            f"   identical to serial: {run['identical']}"
        )
    print(
        "  (total: starting the cluster, a cold and a warm pass, closing; predict and validate:"
        " the warm pass; predict shards the header scan by file and the scoring by patient,"
        " validate its bootstrap blocks)"
    )
    if not all(run["identical"] for run in fig["runs"].values()):
        print("  ERROR: a Dask run differs from the serial run")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
