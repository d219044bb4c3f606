"""A tumor's 3-D HER2 expression map, its ASCO/CAP score, and a core biopsy of one spot.

The tumor lives on a cubic grid of ``tumor_grid`` voxels a side (each voxel stands for a group of
cells). Its mask is a lobulated ellipsoid; its expression is the tumor's mean level plus a smooth
Gaussian random field (white noise smoothed with :func:`scipy.ndimage.gaussian_filter`, rescaled
to the tumor's heterogeneity SD inside the mask). HER2 gene amplification (ISH ratio per cell)
rises steeply with expression. Scoring follows ASCO/CAP 2018 (Wolff et al., JCO 2018): IHC 3+ when
>10 % of cells stain intensely and completely (``e >= 2.5``), 2+ when >10 % stain at least weakly to
moderately completely (``e >= 1.5``), 1+ when >10 % stain faintly (``e >= 0.5``), else 0; IHC 2+ is
settled by ISH (mean HER2/CEP17 ratio >= 2.0 positive; ASCO/CAP group 1 versus group 5). A core
biopsy applies the same rule to a small needle-shaped block of voxels around one location, so
biopsy-versus-surgery discordance arises from heterogeneity alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from her2map.synth.parameters import BiologyParams

__all__ = [
    "HER2Score",
    "Tumor",
    "asco_cap",
    "core_biopsy",
    "her2_category",
    "make_tumor",
    "smooth_field",
]

FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class HER2Score:
    """ASCO/CAP result of a tissue sample.

    Attributes
    ----------
    ihc : str
        ``"0"``, ``"1+"``, ``"2+"`` or ``"3+"``.
    ish : str
        ``"positive"``/``"negative"`` when ISH was done (IHC 2+ only), else ``""``.
    positive : int
        1 for HER2-positive (IHC 3+, or 2+ with ISH positive), else 0.
    low : int
        1 for HER2-low (IHC 1+, or 2+ with ISH negative), else 0.
    """

    ihc: str
    ish: str
    positive: int
    low: int


@dataclass(frozen=True)
class Tumor:
    """A tumor on its grid: ``mask`` (bool), ``expression`` and ``ish_ratio`` (float32, zero outside)."""

    mask: NDArray[np.bool_]
    expression: FloatArray
    ish_ratio: FloatArray

    def cell_values(self) -> tuple[FloatArray, FloatArray]:
        """Expression and ISH ratio of every tumor voxel (1-D arrays)."""
        return self.expression[self.mask], self.ish_ratio[self.mask]

    def fractions(self, bio: BiologyParams) -> tuple[float, float, float]:
        """Whole-tumor fractions of cells at IHC 3+, at exactly 2+, and the mean expression."""
        values, _ = self.cell_values()
        f3 = float(np.mean(values >= bio.ihc_cuts[2]))
        f2 = float(np.mean((values >= bio.ihc_cuts[1]) & (values < bio.ihc_cuts[2])))
        return f3, f2, float(np.mean(values, dtype=np.float64))


@functools.cache
def _gaussian_transfer(shape: tuple[int, ...], sigma: float) -> NDArray[np.float64]:
    """Fourier transfer function of a periodic Gaussian smoothing of SD ``sigma`` voxels."""
    freqs = [np.fft.fftfreq(n) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    grids = np.meshgrid(*freqs, indexing="ij")
    squared = sum(f * f for f in grids)
    return np.exp(-2.0 * (np.pi * sigma) ** 2 * squared)


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> FloatArray:
    """Gaussian random field: white noise smoothed by a periodic Gaussian (via FFT), float32.

    Same field as ``scipy.ndimage.gaussian_filter(noise, sigma, mode="wrap")`` up to truncation.
    """
    noise = rng.standard_normal(shape)
    spectrum = scipy.fft.rfftn(noise) * _gaussian_transfer(shape, float(sigma))
    return scipy.fft.irfftn(spectrum, s=shape).astype(np.float32)


def make_tumor(rng: np.random.Generator, bio: BiologyParams) -> Tumor:
    """Draw one tumor: mixture group, lobulated ellipsoid mask, expression and ISH maps."""
    g = bio.tumor_grid
    group = int(rng.choice(3, p=np.asarray(bio.group_probs)))
    mean = rng.normal(bio.group_means[group], bio.group_sds[group])
    het_sd = rng.uniform(*bio.heterogeneity_sd)
    axes = rng.uniform(0.55, 0.95, size=3) * (g / 2.0)
    coords = np.arange(g, dtype=np.float32) - (g - 1) / 2.0
    zz, yy, xx = np.meshgrid(coords / axes[0], coords / axes[1], coords / axes[2], indexing="ij")
    radius = np.sqrt(zz * zz + yy * yy + xx * xx)
    lobes = smooth_field(rng, (g, g, g), 4.0)
    lobes *= 0.15 / max(float(lobes.std()), 1e-6)
    mask = (radius + lobes) < 1.0
    mask[g // 2, g // 2, g // 2] = True
    field = smooth_field(rng, (g, g, g), bio.correlation_length)
    inside = field[mask]
    field -= float(inside.mean())
    field *= het_sd / max(float(inside.std()), 1e-6)
    expression = np.where(mask, np.float32(mean) + field, np.float32(0.0)).astype(np.float32)
    level = bio.ish_ratio_means[group] * np.exp(rng.normal(0.0, bio.ish_ratio_sd))
    ratio = 1.0 + max(level - 1.0, 0.0) * np.exp(bio.ish_coupling * (expression - mean))
    ish_ratio = np.where(mask, ratio, 0.0).astype(np.float32)
    return Tumor(mask=mask, expression=expression, ish_ratio=ish_ratio)


def asco_cap(expression: FloatArray, ish_ratio: FloatArray, bio: BiologyParams) -> HER2Score:
    """ASCO/CAP 2018 HER2 status of a sample of cells (1-D arrays of equal length).

    IHC category by the >10 % rule on the cells' scores, ISH (mean ratio >= 2.0) only for 2+.
    """
    cut1, cut2, cut3 = bio.ihc_cuts
    share = bio.positive_cell_fraction
    if np.mean(expression >= cut3) > share:
        return HER2Score("3+", "", 1, 0)
    if np.mean(expression >= cut2) > share:
        if float(np.mean(ish_ratio, dtype=np.float64)) >= bio.ish_ratio_cut:
            return HER2Score("2+", "positive", 1, 0)
        return HER2Score("2+", "negative", 0, 1)
    if np.mean(expression >= cut1) > share:
        return HER2Score("1+", "", 0, 1)
    return HER2Score("0", "", 0, 0)


def core_biopsy(
    rng: np.random.Generator, tumor: Tumor, bio: BiologyParams
) -> tuple[FloatArray, FloatArray]:
    """Cells of one needle core: a block around one random tumor voxel, long along the x axis."""
    candidates = np.flatnonzero(tumor.mask)
    centre = np.unravel_index(candidates[int(rng.integers(candidates.size))], tumor.mask.shape)
    w, length = bio.core_half_width, bio.core_half_length
    region = tuple(
        slice(max(c - h, 0), c + h + 1) for c, h in zip(centre, (w, w, length), strict=True)
    )
    mask = tumor.mask[region]
    return tumor.expression[region][mask], tumor.ish_ratio[region][mask]


def her2_category(score: HER2Score) -> str:
    """The IHC category of a score as reported: ``0``, ``1+``, ``2+/ISH-``, ``2+/ISH+`` or ``3+``.

    HER2-low is ``1+`` or ``2+/ISH-`` (Tarantino et al., JCO 2020).
    """
    if score.ihc == "2+":
        return "2+/ISH+" if score.ish == "positive" else "2+/ISH-"
    return score.ihc
