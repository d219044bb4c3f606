"""The validation runner: a registered protocol + predictions + sealed labels -> results.json.

>>> from validation.runner import run_protocol
>>> result = run_protocol("protocols/HER2-VAL-001.yaml", predictions="p.csv",   # doctest: +SKIP
...                       labels="clinical.csv", ledger="ledger.db", out_dir="run/")
>>> result.verdicts                                                             # doctest: +SKIP

See :mod:`validation.runner.run` for the order of operations; the output is the typed results
contract :mod:`validation.results` (JSON Schema ``validation/results/schema/results-2.json``).
"""

from validation.runner.run import (
    RUN_EVENT,
    SCHEMA,
    RunInputs,
    RunResult,
    compute_results,
    model_identity,
    run_protocol,
)
from validation.runner.tables import (
    RowProblem,
    Table,
    beside_predictions,
    read_labels,
    read_predictions,
)

__all__ = [
    "RUN_EVENT",
    "SCHEMA",
    "RowProblem",
    "RunInputs",
    "RunResult",
    "Table",
    "beside_predictions",
    "compute_results",
    "model_identity",
    "read_labels",
    "read_predictions",
    "run_protocol",
]
