"""Shared pytest configuration: fixed hypothesis profile (deterministic, no deadline flakiness)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


# --- results written by the runner, shared by the dossier tests (never hand-written) ----------
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))


def dossier_protocol(confidence: float) -> dict[str, Any]:
    """A protocol touching every dossier section: a fixed sequence that stops (E2 fails, E3 not
    tested), a secondary endpoint, error analysis, per-site AUC with a site without positives,
    and the four comparison kinds (non-inferiority and superiority of the AUC difference)."""
    from test_runner_helpers import protocol_dict

    return protocol_dict(
        confidence=confidence,
        endpoints=[
            {"id": "E1", "metric": "auc", "criterion": "ci_low >= 0.60", "hierarchy": 1},
            {"id": "E2", "metric": "sensitivity", "criterion": "ci_low >= 0.99", "hierarchy": 2},
            {"id": "E3", "metric": "specificity", "criterion": "ci_low >= 0.50", "hierarchy": 3},
            {"id": "S1", "metric": "ici", "criterion": "estimate <= 0.5"},
            {"id": "S2", "metric": "high_confidence_error_rate", "criterion": "ci_high <= 0.5",
             "params": {"high_confidence": 0.8}},
        ],
        comparisons=[
            {"id": "C1", "method": "compare_auc", "outcome": "pcr", "criterion": "ci_low >= -0.2",
             "description": "Non-inferiority of AUC for pCR"},
            {"id": "C2", "method": "mcnemar", "outcome": "reference_her2"},
            {"id": "C3", "method": "kappa", "criterion": "estimate >= 0.2"},
            {"id": "C4", "method": "decision_curve", "outcome": "pcr", "thresholds": [0.1, 0.3]},
            {"id": "C5", "method": "compare_auc", "outcome": "pcr", "criterion": "ci_low > 0",
             "description": "Superiority of AUC for pCR"},
        ],
    )  # fmt: skip


@pytest.fixture(scope="session")
def runner_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], Any]:
    """``runner_run(confidence)`` -> the runner's :class:`RunResult` of :func:`dossier_protocol`
    on the small synthetic tables (site C without positives); one run per level per session."""
    from test_runner_helpers import make_tables, registered

    from validation.runner import run_protocol

    made: dict[float, Any] = {}

    def run(confidence: float) -> Any:
        if confidence not in made:
            base = tmp_path_factory.mktemp(f"runner-{confidence}")
            pred, labels = make_tables(base, negatives_only_site="C")
            protocol, ledger = registered(base, dossier_protocol(confidence))
            made[confidence] = run_protocol(
                protocol, labels=labels, ledger=ledger, out_dir=base / "run", predictions=pred
            )
        return made[confidence]

    return run
