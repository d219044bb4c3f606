"""Integration: ingest a small cohort written by ``her2map.synth`` (the other side of the contract)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest

from her2map.ingest import load_cohort, load_images
from her2map.synth import synth


@pytest.mark.req("REQ-ING-001")
@pytest.mark.req("REQ-PHI-001")
def test_synthesized_cohort_ingests_without_exclusions(tmp_path: Path) -> None:
    summary = synth(tmp_path / "cohort", patients=10, seed=11)
    cohort = load_cohort(tmp_path / "cohort")
    assert cohort.exclusions == ()
    assert cohort.n_files == summary.n_images == cohort.n_used
    assert [s.patient_id for s in cohort.studies] == sorted(cohort.clinical["patient_id"])
    combos = Counter(
        "+".join(dict.fromkeys(key.split("_")[0] for key in study.modalities))
        for study in cohort.studies
    )
    assert dict(combos) == dict(summary.modality_counts)
    expected_shapes = {"MG_CC": (96, 96), "MG_MLO": (96, 96), "US": (64, 64), "MR": (3, 8, 48, 48)}
    names: set[str] = set()
    for study in cohort.studies:
        images = load_images(study)
        for key, image in images.items():
            assert image.shape == expected_shapes[key]
            assert image.dtype == np.float32
            first = pydicom.dcmread(study.files[key][0])
            names.add(str(first.PatientName))
            names.add(str(first.PatientBirthDate))
            reference = first.pixel_array * float(first.get("RescaleSlope", 1.0)) + float(
                first.get("RescaleIntercept", 0.0)
            )
            np.testing.assert_array_equal(
                image[0] if key == "MR" else image, reference.astype(np.float32)
            )
    text = repr(cohort) + repr(cohort.studies) + cohort.clinical.to_csv()
    assert names
    assert not [name for name in names if name and name in text]
