"""Classic MR phase assembly (her2map/ingest/series.py) and the pixel semantics of preprocess.py,
rule by rule, on header records built directly (no files)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from her2map.exceptions import DicomError
from her2map.ingest.reader import CLASSIC_MR, DicomHeader
from her2map.ingest.series import SeriesProblem, order_classic_phases
from her2map.preprocess import PixelTags, PreprocessConfig, pixel_values

_BASE = DicomHeader(
    path=Path("x"), patient_id="P1", study_uid="1.2", series_uid="", sop_instance_uid="",
    sop_class=CLASSIC_MR, modality="MR", key="MR", laterality=None, rows=4, columns=4, frames=1,
    samples=1, photometric="MONOCHROME2", bits_allocated=16, bits_stored=12,
    pixel_representation=0, slope=1.0, intercept=0.0, representative_frame=0,
    temporal_position=None, n_temporal_positions=None, transfer_syntax="1.2.840.10008.1.2.1",
    lossy=False, pixel_offset=0, pixel_length=32, signature=(), position=(0.0, 0.0, 0.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), spacing=(1.0, 1.0),
)  # fmt: skip


def _series(uid: str, slices: int = 3, **fields: object) -> list[tuple[str, DicomHeader]]:
    items = []
    for k in reversed(range(slices)):  # stored in reverse order on purpose
        header = replace(_BASE, series_uid=uid, position=(0.0, 0.0, 2.0 * k), **fields)  # type: ignore[arg-type]
        items.append((f"{uid}/{k}", header))
    return items


def test_slices_sorted_along_the_normal_and_phases_by_series_time() -> None:
    items = [
        *_series("s-late", series_time="101500"),
        *_series("s-pre", series_time="100000"),
        *_series("s-mid", series_time="100700.5"),
    ]
    phases = order_classic_phases(items, min_phases=3)
    assert [phase[0][1].series_uid for phase in phases] == ["s-pre", "s-mid", "s-late"]
    assert [h.position for _, h in phases[0]] == [(0, 0, 0), (0, 0, 2), (0, 0, 4)]


def test_oblique_normal_orders_by_projection_not_by_z() -> None:
    # sagittal: rows along +y, columns along -z -> normal = row x column = -x, so slices ascend
    # along -x (x descending), whatever their z or storage order
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    items = []
    for uid, tpi in (("a", 1), ("b", 2), ("c", 3)):
        for k, x in enumerate((5.0, -5.0, 0.0)):
            header = replace(
                _BASE, series_uid=uid, temporal_position=tpi, orientation=sagittal,
                position=(x, 0.0, 10.0 - k),
            )  # fmt: skip
            items.append((f"{uid}/{k}", header))
    phases = order_classic_phases(items, min_phases=3)
    assert [h.position[0] for _, h in phases[0]] == [5.0, 0.0, -5.0]  # type: ignore[index]


def test_description_rule_puts_pre_first_in_natural_order() -> None:
    items = [
        *_series("x", series_description="ax dyn 10th pass"),
        *_series("y", series_description="ax dyn 2nd pass"),
        *_series("z", series_description="ax dyn pre"),
    ]
    phases = order_classic_phases(items, min_phases=3)
    assert [p[0][1].series_description for p in phases] == [
        "ax dyn pre", "ax dyn 2nd pass", "ax dyn 10th pass",
    ]  # fmt: skip


def test_undecidable_order_is_refused_not_guessed() -> None:
    items = [*_series("a"), *_series("b"), *_series("c")]
    with pytest.raises(SeriesProblem, match="cannot order the DCE phases") as info:
        order_classic_phases(items, min_phases=3)
    assert info.value.tag == "(0020,0100)"


@pytest.mark.parametrize(
    ("broken", "match", "tag"),
    [
        ({"position": (0.0, 0.0, 0.0)}, "two slices at the same position", "(0020,0032)"),
        (
            {"orientation": (0.0, 1.0, 0.0, 1.0, 0.0, 0.0)},
            "ImageOrientationPatient differs",
            "(0020,0037)",
        ),
        ({"rows": 8}, "Rows/Columns/PixelSpacing differ", "(0028,0010)"),
    ],
)
def test_inconsistent_slices_name_the_series(
    broken: dict[str, object], match: str, tag: str
) -> None:
    items = [*_series("a", temporal_position=1), *_series("b", temporal_position=2),
             *_series("c", temporal_position=3)]  # fmt: skip
    rel, header = items[0]
    items[0] = (rel, replace(header, **broken))  # type: ignore[arg-type]
    with pytest.raises(SeriesProblem, match=match) as info:
        order_classic_phases(items, min_phases=3)
    assert info.value.tag == tag
    assert "series a" in info.value.reason


def test_too_few_phases_and_phase_geometry_mismatch() -> None:
    with pytest.raises(SeriesProblem, match="needs >= 3 phases"):
        order_classic_phases([*_series("a"), *_series("b")], min_phases=3)
    items = [*_series("a", temporal_position=1), *_series("b", temporal_position=2),
             *_series("c", 4, temporal_position=3)]  # fmt: skip
    with pytest.raises(SeriesProblem, match="inconsistent geometry between DCE phases: series c"):
        order_classic_phases(items, min_phases=3)


def _tags(**fields: object) -> PixelTags:
    base = {"photometric": "MONOCHROME2", "bits_stored": 12, "pixel_representation": 0,
            "slope": 1.0, "intercept": 0.0}  # fmt: skip
    return PixelTags(**{**base, **fields})  # type: ignore[arg-type]


def test_monochrome1_is_mirrored_within_the_stored_range() -> None:
    stored = np.array([[0, 4095], [100, 2000]], dtype=np.uint16)
    out = pixel_values(4095 - stored, _tags(photometric="MONOCHROME1"))
    np.testing.assert_array_equal(out, stored.astype(np.float32))
    signed = pixel_values(np.array([-2048, 2047], dtype=np.int16), _tags(
        photometric="MONOCHROME1", pixel_representation=1))  # fmt: skip
    np.testing.assert_array_equal(signed, [2047.0, -2048.0])


def test_colour_becomes_bt601_luma_and_cine_keeps_the_representative_frame() -> None:
    rgb = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    for frame in range(3):
        rgb[frame] = (10 * frame, 100, 200)
    tags = _tags(photometric="RGB", frames=3, reduce_frames=True, representative_frame=3)
    out = pixel_values(rgb, tags)
    np.testing.assert_allclose(out, 0.299 * 20 + 0.587 * 100 + 0.114 * 200, rtol=1e-6)
    middle = pixel_values(rgb, replace(tags, representative_frame=0))
    np.testing.assert_allclose(middle, 0.299 * 10 + 0.587 * 100 + 0.114 * 200, rtol=1e-6)


def test_rescale_applies_and_overflow_is_an_error_naming_the_tag() -> None:
    stored = np.array([1, 2], dtype=np.uint16)
    np.testing.assert_array_equal(pixel_values(stored, _tags(slope=2.0, intercept=-1.0)), [1, 3])
    with pytest.raises(DicomError, match=r"tag \(0028,1053\)"):
        pixel_values(np.array([60000], dtype=np.uint16), _tags(slope=1e35), where="f.dcm")


def test_lock_refuses_other_pixel_semantics() -> None:
    config = PreprocessConfig().to_dict()
    with pytest.raises(ValueError, match="pixel_policy must be"):
        PreprocessConfig.from_dict({**config, "pixel_policy": "something else"})
    del config["resampling"]
    with pytest.raises(TypeError, match="lacks key"):
        PreprocessConfig.from_dict(config)
