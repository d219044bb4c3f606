"""One validation run end to end: run the registered protocol, then seal its dossier.

The runner computes and renders nothing; the dossier renders and computes nothing (DESIGN.md).
This module only sequences them, so that ``her2map validate run`` and the demo share one path:
``results.json`` is written into ``out/`` and the sealed dossier into ``out/dossier/``, the seal
recorded in the same ledger as the run. The dossier carries the run's inputs and provenance, so it
re-runs from itself (:mod:`validation.reproduce`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from validation.dossier import (
    BuildResult,
    DossierInputs,
    VerifyResult,
    build_dossier,
    verify_dossier,
)
from validation.exceptions import DossierError
from validation.runner import RunResult, run_protocol

__all__ = ["DOSSIER_DIR", "SealedRun", "run_and_seal"]

#: Name of the dossier folder inside a run's output folder.
DOSSIER_DIR = "dossier"


@dataclass(frozen=True, slots=True)
class SealedRun:
    """A run's results and its verified dossier."""

    run: RunResult
    dossier: BuildResult
    verification: VerifyResult

    @property
    def index_html(self) -> Path:
        return self.dossier.directory / "index.html"


def run_and_seal(
    protocol: str | Path,
    *,
    labels: str | Path,
    ledger: str | Path,
    out_dir: str | Path,
    predictions: str | Path | None = None,
    cohort: str | Path | None = None,
    lock: str | Path | None = None,
    actor: str = "harness",
    trace: str | Path | None = None,
    tests_dir: str | Path | None = None,
    junit: str | Path | None = None,
) -> SealedRun:
    """:func:`~validation.runner.run_protocol`, then :func:`~validation.dossier.build_dossier` and
    :func:`~validation.dossier.verify_dossier` of its results (raises DossierError if it fails)."""
    run = run_protocol(
        protocol,
        labels=labels,
        ledger=ledger,
        out_dir=out_dir,
        predictions=predictions,
        cohort=cohort,
        lock=lock,
        actor=actor,
    )
    built = build_dossier(
        run.results_path,
        Path(out_dir) / DOSSIER_DIR,
        ledger=ledger,
        trace=trace,
        tests_dir=tests_dir,
        junit=junit,
        actor=actor,
        inputs=DossierInputs(
            run.inputs.protocol,
            run.inputs.predictions,
            run.inputs.labels,
            run.inputs.predictions_exclusions,
        ),
    )
    verification = verify_dossier(built.directory)
    if not verification.ok:
        problems = "; ".join(f"{name}: {message}" for name, message in verification.problems)
        raise DossierError(
            f"the dossier just built in {built.directory} does not verify: {problems}"
        )
    return SealedRun(run, built, verification)
