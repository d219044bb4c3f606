"""Tumor maps: the FFT random field against scipy's Gaussian filter (slow twin); the biopsy core."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from her2map.synth import DEFAULT_PARAMS
from her2map.synth.tumor import core_biopsy, make_tumor, smooth_field


@pytest.mark.parametrize(("shape", "sigma"), [((24, 24, 24), 4.0), ((8, 20, 20), 2.5)])
def test_smooth_field_equals_periodic_gaussian_filter(shape: tuple[int, ...], sigma: float) -> None:
    field = smooth_field(np.random.default_rng(3), shape, sigma)
    noise = np.random.default_rng(3).standard_normal(shape)
    reference = gaussian_filter(noise, sigma, mode="wrap", truncate=8.0)
    assert field.dtype == np.float32
    # sampled versus continuous Gaussian kernel: differences far below the field's own SD
    np.testing.assert_allclose(field, reference, atol=1e-3 * float(reference.std()))


def test_tumor_maps_and_core() -> None:
    bio = DEFAULT_PARAMS.biology
    rng = np.random.default_rng(8)
    for _ in range(20):
        tumor = make_tumor(rng, bio)
        assert tumor.mask.shape == (bio.tumor_grid,) * 3
        assert 0 < tumor.mask.sum() < tumor.mask.size
        assert not tumor.expression[~tumor.mask].any()
        assert (tumor.ish_ratio[tumor.mask] >= 1.0).all()
        values, ratios = core_biopsy(rng, tumor, bio)
        block = (2 * bio.core_half_width + 1) ** 2 * (2 * bio.core_half_length + 1)
        assert 1 <= values.size <= block
        assert values.size == ratios.size
        # every core cell is a tumor cell
        assert np.isin(values, tumor.expression[tumor.mask]).all()
        f3, f2, mean = tumor.fractions(bio)
        cells = tumor.expression[tumor.mask]
        assert f3 == pytest.approx(np.mean(cells >= 2.5))
        assert f2 == pytest.approx(np.mean((cells >= 1.5) & (cells < 2.5)))
        assert mean == pytest.approx(float(cells.mean()), rel=1e-6)
