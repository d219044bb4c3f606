"""Runner pieces: table validation (errors name file/line/column), one-sided p-values, ROC curve and
the ROC band statistic -- against independent references (sklearn, statsmodels, brute force)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve
from statsmodels.stats.proportion import proportions_ztest

from validation.exceptions import RunError
from validation.protocol import Criterion
from validation.runner import read_labels, read_predictions
from validation.runner.verdicts import one_sided_p
from validation.stats import Estimate, proportion
from validation.stats.roc import roc_curve, weighted_sensitivity_at_specificity


# --- tables -------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.req("REQ-EXCL-001")
def test_non_numeric_score_names_file_line_and_column(tmp_path: Path) -> None:
    pred = _write(tmp_path / "pred.csv", "patient_id,site,score\nP1,A,0.2\nP2,A,0.4\nP3,A,abc\n")
    with pytest.raises(
        RunError, match=r"pred\.csv, line 4, column 'score': expected a number.*'abc'"
    ):
        read_predictions(pred)


@pytest.mark.req("REQ-EXCL-001")
def test_missing_column_and_empty_id_are_errors(tmp_path: Path) -> None:
    pred = _write(tmp_path / "p.csv", "patient_id,score\nP1,0.2\n")
    with pytest.raises(RunError, match=r"p\.csv: missing column\(s\) site.*line 1"):
        read_predictions(pred)
    labels = _write(tmp_path / "l.csv", "patient_id,reference_her2\nP1,1\n,0\n")
    with pytest.raises(RunError, match=r"l\.csv, line 3, column 'patient_id': empty patient id"):
        read_labels(labels)


@pytest.mark.req("REQ-EXCL-001")
def test_mixed_model_locks_are_refused(tmp_path: Path) -> None:
    pred = _write(
        tmp_path / "p.csv",
        "patient_id,site,score,model_lock\nP1,A,0.2,aaaa\nP2,A,0.3,aaaa\nP3,A,0.4,bbbb\n",
    )
    with pytest.raises(
        RunError, match=r"line 4, column 'model_lock': the table mixes 2 model locks"
    ):
        read_predictions(pred)


@pytest.mark.req("REQ-EXCL-001")
def test_row_problems_are_kept_with_reasons_not_dropped(tmp_path: Path) -> None:
    pred = _write(
        tmp_path / "p.csv",
        "patient_id,site,score,model_lock\nP1,A,0.2,h\nP2,A,-0.1,h\nP1,A,0.3,h\nP4,A,,h\nP5,B,1,h\n",
    )
    table = read_predictions(pred)
    assert table.model_lock == "h"
    assert table.rows == 5
    assert list(table.frame["patient_id"]) == ["P5"]
    assert [(p.patient_id, p.line, p.reason) for p in table.problems] == [
        ("P1", 2, "duplicate patient_id in predictions (lines 2, 4)"),
        ("P2", 3, "score outside [0, 1] in predictions"),
        ("P1", 4, "duplicate patient_id in predictions (lines 2, 4)"),
        ("P4", 5, "no prediction score"),
    ]
    labels = _write(
        tmp_path / "l.csv",
        "patient_id,reference_her2,pcr,reference_ihc,site\nP1,1,,3+,A\nP2,yes,0,0,A\nP3,0,2,1+,B\n",
    )
    lab = read_labels(labels)
    assert list(lab.frame.columns) == ["patient_id", "reference_her2", "pcr", "site", "line"]
    assert math.isnan(lab.frame.loc[0, "pcr"])  # empty = missing, left to the population
    assert [(p.patient_id, p.reason) for p in lab.problems] == [
        ("P2", "reference_her2 not 0/1 in labels"),
        ("P3", "pcr not 0/1 in labels"),
    ]


def test_parquet_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"absent\.csv does not exist"):
        read_labels(tmp_path / "absent.csv")
    frame = pd.DataFrame({"patient_id": ["P1", "P2"], "site": ["A", "B"], "score": [0.25, 0.5]})
    path = tmp_path / "p.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(RunError, match=r"p\.parquet: reading Parquet needs the 'pyarrow'"):
            read_predictions(path)
    else:
        frame.to_parquet(path)
        assert read_predictions(path).frame["score"].tolist() == [0.25, 0.5]


# --- one-sided p-values agree with the interval the criterion reads --------------------------------
@pytest.mark.req("REQ-STAT-MULT")
@pytest.mark.parametrize(("k", "n", "bound"), [(40, 50, 0.7), (45, 50, 0.8), (10, 80, 0.2)])
def test_wilson_p_value_is_the_score_test(k: int, n: int, bound: float) -> None:
    est = proportion(k, n, method="wilson")
    p = one_sided_p(est, Criterion.parse(f"ci_low >= {bound}"))
    _, expected = proportions_ztest(k, n, value=bound, alternative="larger", prop_var=bound)
    assert p == pytest.approx(expected, rel=1e-10)
    # and the decision agrees with the interval (Wilson inverts the score test)
    assert (p <= 0.025) == (est.ci_low >= bound)
    upper = one_sided_p(est, Criterion.parse(f"ci_high < {bound}"))
    assert upper == pytest.approx(1.0 - expected, rel=1e-9)


@pytest.mark.req("REQ-STAT-MULT")
def test_wald_p_value_and_undefined_cases() -> None:
    est = Estimate(0.85, 0.80, 0.90, 0.95, "delong", 100, se=0.025)
    assert one_sided_p(est, Criterion.parse("ci_low >= 0.80")) == pytest.approx(0.02275013194817921)
    assert one_sided_p(est, Criterion.parse("estimate >= 0.80")) is None
    gone = Estimate.not_estimable("no positives", confidence=0.95, method="delong", n=10)
    assert one_sided_p(gone, Criterion.parse("ci_low >= 0.80")) is None


# --- ROC curve and band statistic -----------------------------------------------------------------
def _data(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(rng.normal(y, 1.0), 1)  # rounding makes ties
    return y, s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_curve_matches_sklearn(seed: int) -> None:
    y, s = _data(seed)
    fpr, tpr, thr = roc_curve(y, s)
    efpr, etpr, ethr = sk_roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, efpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, etpr, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(thr[1:], ethr[1:])
    assert thr[0] == np.inf


def _sens_at_spec_brute(y: np.ndarray, s: np.ndarray, spec: float) -> float:
    best = 0.0
    for t in [*np.unique(s).tolist(), math.inf]:
        sp = np.mean(s[y == 0] < t)
        if sp >= spec - 1e-12:
            best = max(best, float(np.mean(s[y == 1] >= t)))
    return best


@pytest.mark.parametrize("spec", [0.0, 0.3, 0.5, 0.8, 0.95, 1.0])
def test_sensitivity_at_specificity_matches_brute_force(spec: float) -> None:
    y, s = _data(4)
    got = weighted_sensitivity_at_specificity(np.ones((1, len(y))), y, s, specificity=spec)[0]
    assert got == pytest.approx(_sens_at_spec_brute(y, s, spec), abs=1e-15)


def test_weights_equal_repeated_rows() -> None:
    y, s = _data(5, n=30)
    rng = np.random.default_rng(9)
    w = rng.integers(0, 3, size=(4, len(y))).astype(float)
    got = weighted_sensitivity_at_specificity(w, y, s, specificity=0.7)
    for row, value in zip(w, got, strict=True):
        reps = row.astype(int)
        yy, ss = np.repeat(y, reps), np.repeat(s, reps)
        if yy.min() == yy.max():
            assert math.isnan(value)
        else:
            assert value == pytest.approx(_sens_at_spec_brute(yy, ss, 0.7), abs=1e-12)
