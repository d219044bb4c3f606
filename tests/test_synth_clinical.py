"""Clinical-size images: ``her2map synth --fidelity clinical`` and the core's anti-aliased reduction."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pydicom
from locks import make_lock

from her2map import LockedModel
from her2map.cli import main
from her2map.predict import exclusions_path, predict_cohort
from her2map.preprocess import PreprocessConfig, preprocess_study
from her2map.synth.imaging import FIDELITY


def test_clinical_fidelity_cohort_is_full_size_and_predicted(tmp_path: Path) -> None:
    out = tmp_path / "clinical"
    # seed 5, two patients: MG+US and US (the MR preset, 3 x 96 x 512^2, is timed in make bench)
    args = ["synth", "--patients", "2", "--seed", "5", "--fidelity", "clinical", "--out", str(out)]
    assert main(args) == 0
    sizes = FIDELITY["clinical"]
    shapes = {}
    for path in sorted((out / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        shapes[path.parent.name] = (int(ds.Rows), int(ds.Columns))
    assert shapes == {
        "MG_CC": (sizes.mg, sizes.mg),
        "MG_MLO": (sizes.mg, sizes.mg),
        "US": (sizes.us, sizes.us),
    }
    model = LockedModel.load(make_lock(tmp_path / "lock", training=["Q-OTHER"]))
    predictions = predict_cohort(out, tmp_path / "p.csv", model=model)
    with open(predictions, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert all(0.0 < float(r["score"]) < 1.0 for r in rows)
    assert exclusions_path(predictions).read_text().strip() == "patient_id,path,reason,tag"


def test_size_option_overrides_one_size_of_the_preset(tmp_path: Path) -> None:
    out = tmp_path / "c"
    args = ["synth", "--patients", "1", "--seed", "1", "--fidelity", "toy", "--us-size", "40"]
    assert main([*args, "--out", str(out)]) == 0
    (path,) = sorted((out / "dicom").rglob("*.dcm"))  # seed 1: one US-only patient
    assert int(pydicom.dcmread(path).Rows) == 40


#: float32 block sums of 4,900 pixels (torch) against float64 means (numpy), in standard units.
FLOAT32_SUM_TOLERANCE = 1e-4


def test_reduction_is_anti_aliased_block_mean() -> None:
    """A 2-pixel stripe pattern at clinical size must vanish when reduced (box filter), not
    alias into a pattern as nearest-neighbour subsampling (the plausible wrong version) does."""
    config = PreprocessConfig()
    side = config.mg_size * 70  # integer ratio: area reduction == block mean
    stripes = np.tile(np.array([0.0, 4095.0], dtype=np.float32), side // 2)
    image = (
        np.broadcast_to(stripes, (side, side))
        + np.linspace(0, 4000, side, dtype=np.float32)[:, None]
    )
    reduced = preprocess_study({"MG_CC": image}, config)["MG_CC"][0].numpy()
    blocks = (
        image.astype(np.float64).reshape(config.mg_size, 70, config.mg_size, 70).mean(axis=(1, 3))
    )
    expected = (blocks - blocks.mean()) / blocks.std()
    np.testing.assert_allclose(reduced, expected, atol=FLOAT32_SUM_TOLERANCE)
    assert np.ptp(reduced, axis=1).max() < 1e-3  # no stripe survives along a row
    aliased = image[::69, ::69]  # nearest-neighbour subsampling by an odd step
    assert np.ptp(aliased, axis=1).min() > 4000  # ... turns the stripes into full-contrast ones
