"""Render a patient's images from its tumor map, anatomy and site (all vectorised numpy).

Each modality's tumor appearance follows the LOCAL HER2 activity ``a = clip((e - 0.5) / 2.5, 0,
1.3)`` of the expression map, scaled by the modality's signal strength (``signal_scale *
{mg,us,mr}_signal`` in :class:`her2map.synth.parameters.ImagingParams`), on top of anatomy
(breast outline, fibroglandular tissue whose amount follows BI-RADS density), per-patient
variability and the site's noise, contrast curve and intensity scaling:

* **Mammography** (CC and MLO): 2-D projections of the same 3-D tumor along two directions (CC:
  along the cranio-caudal axis; MLO: along the 45-degree oblique), so both views show one set of
  3-D calcifications (more where activity is high: HER2-positive tumors carry more pleomorphic /
  fine-linear calcifications) and spicules drawn from the surface (fewer where the local activity
  is high: HER2-positive masses are less often spiculated).
* **Ultrasound**: the tumor's central plane, hypoechoic with an internal echo level that follows
  local activity, and posterior features per column (enhancement where activity is high,
  shadowing where low), with multiplicative speckle.
* **DCE-MRI**: a pre-contrast volume and post-contrast phases; the voxel-wise enhancement curve
  ``amp * (1 - exp(-k_in t)) * exp(-k_out t)`` has wash-in ``k_in`` and wash-out ``k_out`` rising
  with local activity (fast wash-in / wash-out in HER2-positive disease), plus background
  parenchymal enhancement that grows with density.

Pixels are 12-bit unsigned: ``offset + gain * 2000 * max(image + noise, 0) ** gamma`` per site.

Fidelity (:data:`FIDELITY`): ``toy`` renders the small default sizes of
:class:`~her2map.synth.parameters.ImageSizes`; ``clinical`` renders at the sizes a hospital sends —
mammograms 3328 x 3328 (the long side of a 3328 x 2560 detector; the synthetic breast is drawn
in a square), ultrasound 800 x 800, DCE-MRI phases of 96 slices of 512 x 512 — by the same
rendering, so that ingest, decoding and the core's anti-aliased reduction
(:data:`her2map.preprocess.RESAMPLING`) are exercised at full size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from her2map.synth.parameters import ImageSizes, ImagingParams, SiteParams, SynthParams
from her2map.synth.tumor import Tumor, smooth_field

__all__ = ["FIDELITY", "activity", "render_images", "to_pixels"]

Float = NDArray[np.float32]
_MAX_PIXEL = 4095.0
#: Image sizes of each fidelity (``her2map synth --fidelity``).
FIDELITY: dict[str, ImageSizes] = {
    "toy": ImageSizes(),
    "clinical": ImageSizes(mg=3328, us=800, mr=512, mr_slices=96, mr_phases=3),
}


def activity(tumor: Tumor) -> Float:
    """Local HER2 activity map in [0, 1.3] (0 outside the tumor)."""
    act = np.clip((tumor.expression - 0.5) / 2.5, 0.0, 1.3)
    return np.where(tumor.mask, act, 0.0).astype(np.float32)


def to_pixels(image: Float, site: SiteParams, rng: np.random.Generator) -> NDArray[np.uint16]:
    """Apply the site's noise, contrast curve and intensity scaling; 12-bit unsigned pixels."""
    noisy = image + rng.normal(0.0, site.noise, image.shape).astype(np.float32)
    values = site.offset + site.gain * 2000.0 * np.power(np.maximum(noisy, 0.0), site.gamma)
    return np.clip(np.rint(values), 0.0, _MAX_PIXEL).astype(np.uint16)


def _nearest(n_in: int, n_out: int) -> NDArray[np.intp]:
    return np.minimum((np.arange(n_out) * n_in) // max(n_out, 1), n_in - 1)


def _resize(arr: Float, shape: tuple[int, ...]) -> Float:
    index = np.ix_(*(_nearest(a, b) for a, b in zip(arr.shape, shape, strict=True)))
    return arr[index]


def _paste(canvas: Float, patch: Float, corner: tuple[int, ...]) -> None:
    """Add ``patch`` into ``canvas`` with its first element at ``corner`` (clipped at edges)."""
    dst, src = [], []
    for c, p, n in zip(corner, patch.shape, canvas.shape, strict=True):
        lo, hi = max(c, 0), min(c + p, n)
        dst.append(slice(lo, max(hi, lo)))
        src.append(slice(lo - c, max(hi, lo) - c))
    canvas[tuple(dst)] += patch[tuple(src)]


def _gland(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, share: float) -> Float:
    """Soft fibroglandular tissue mask with about ``share`` of the volume glandular."""
    tex = smooth_field(rng, shape, sigma)
    tex /= max(float(tex.std()), 1e-6)
    cut = float(np.quantile(tex, 1.0 - share))
    return (1.0 / (1.0 + np.exp(-(tex - cut) / 0.3))).astype(np.float32)


def _spicule_points(
    rng: np.random.Generator, tumor: Tumor, act: Float, ip: ImagingParams, strength: float
) -> NDArray[np.float64]:
    """3-D points of spicules leaving the surface where the local activity is LOW."""
    g = tumor.mask.shape[0]
    dirs = rng.standard_normal((ip.mg_spicules, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    centre = np.full(3, (g - 1) / 2.0)
    steps = np.arange(0.0, g / 2.0, 0.5)
    pts = centre + steps[None, :, None] * dirs[:, None, :]
    idx = np.clip(np.rint(pts).astype(np.intp), 0, g - 1)
    inside = tumor.mask[idx[..., 0], idx[..., 1], idx[..., 2]]
    last = np.maximum(np.cumprod(inside, axis=1).sum(axis=1) - 1, 0)
    surface = idx[np.arange(len(dirs)), last]
    local = act[surface[:, 0], surface[:, 1], surface[:, 2]]
    p = ip.mg_spicule_prob * np.clip(1.0 - strength * local, 0.05, 1.0)
    keep = rng.random(len(dirs)) < p
    lengths = rng.uniform(0.25, 0.6, len(dirs)) * g
    t = np.linspace(0.0, 1.0, 16)
    start = surface.astype(np.float64)
    seg = start[:, None, :] + (t[None, :, None] * lengths[:, None, None]) * dirs[:, None, :]
    return seg[keep].reshape(-1, 3)


def _render_mg(
    rng: np.random.Generator, tumor: Tumor, act: Float, share: float, params: SynthParams
) -> dict[str, Float]:
    ip, n = params.imaging, params.sizes.mg
    g = tumor.mask.shape[0]
    strength = ip.signal_scale * ip.mg_signal
    rate = ip.mg_calcification_base + ip.mg_calcification_rate * strength * act**2
    calcs = np.argwhere(tumor.mask & (rng.random(tumor.mask.shape) < rate)).astype(np.float64)
    spicules = _spicule_points(rng, tumor, act, ip, strength)
    box = max(int(np.rint(n * rng.uniform(0.25, 0.4))), 4)
    scale = box / g
    col0 = int(n * rng.uniform(0.2, 0.45))
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float32)
    breast = (((cols / (0.9 * n)) ** 2 + ((rows - n / 2) / (0.48 * n)) ** 2) < 1.0).astype(
        np.float32
    )
    mass = tumor.mask.astype(np.float32)
    sheared = np.zeros((2 * g - 1, g), dtype=np.float32)
    for z in range(g):
        sheared[g - 1 - z : 2 * g - 1 - z] += mass[z]
    views = {
        # (projected thickness, point -> (row, col) in grid units)
        "MG_CC": (mass.sum(axis=0), lambda p: (p[:, 1], p[:, 2])),
        "MG_MLO": (
            sheared * np.sqrt(2.0),
            lambda p: ((p[:, 1] - p[:, 0] + g - 1) / np.sqrt(2.0), p[:, 2]),
        ),
    }
    images: dict[str, Float] = {}
    for key, (thickness, project) in views.items():
        height = max(
            int(np.rint(thickness.shape[0] * scale / (np.sqrt(2.0) if key == "MG_MLO" else 1))), 1
        )
        row0 = int(n / 2 - height / 2 + rng.integers(-n // 10, n // 10 + 1))
        image = breast * (0.25 + 0.35 * _gland(rng, (n, n), 3.0, share))
        _paste(image, ip.mg_mass_density * _resize(thickness, (height, box)), (row0, col0))
        for points, value in ((calcs, 0.9), (spicules, 0.25)):
            if len(points):
                r, c = project(points)
                rr = np.clip(np.rint(row0 + r * scale).astype(np.intp), 0, n - 1)
                cc = np.clip(np.rint(col0 + c * scale).astype(np.intp), 0, n - 1)
                np.maximum.at(image, (rr, cc), image[rr, cc] + value)
        images[key] = image
    return images


def _render_us(
    rng: np.random.Generator, tumor: Tumor, act: Float, share: float, params: SynthParams
) -> Float:
    ip, n = params.imaging, params.sizes.us
    g = tumor.mask.shape[0]
    strength = ip.signal_scale * ip.us_signal
    depth = np.arange(n, dtype=np.float32)[:, None] / n
    layers = np.where(
        depth < 0.05, 0.7, np.where(depth < 0.22, 0.22, np.where(depth < 0.8, 0.3, 0.4))
    )
    image = layers + 0.3 * (depth >= 0.22) * (depth < 0.8) * _gland(rng, (n, n), 2.0, share)
    image = np.broadcast_to(image, (n, n)).astype(np.float32)
    plane_mask = tumor.mask[g // 2].astype(np.float32)
    plane_act = act[g // 2]
    box = max(int(np.rint(n * rng.uniform(0.3, 0.5))), 4)
    row0 = int(n * 0.3) + int(rng.integers(0, n // 8 + 1))
    col0 = (n - box) // 2 + int(rng.integers(-n // 8, n // 8 + 1))
    m = _resize(plane_mask, (box, box))
    a = _resize(plane_act, (box, box))
    inner = 0.08 + ip.us_echo * strength * a
    tumor_img = np.zeros((n, n), dtype=np.float32)
    weight = np.zeros((n, n), dtype=np.float32)
    _paste(tumor_img, m * inner, (row0, col0))
    _paste(weight, m, (row0, col0))
    image = image * (1.0 - weight) + tumor_img
    # posterior features: enhancement (high activity) or shadowing (low), per column
    col_act = np.zeros(n, dtype=np.float32)
    col_has = np.zeros(n, dtype=np.float32)
    bottom = np.zeros(n, dtype=np.float32)
    span = slice(max(col0, 0), min(col0 + box, n))
    src = slice(span.start - col0, span.stop - col0)
    counts = m[:, src].sum(axis=0)
    col_has[span] = counts > 0
    col_act[span] = (a[:, src] * m[:, src]).sum(axis=0) / np.maximum(counts, 1.0)
    bottom[span] = row0 + box - np.argmax(m[::-1, src] > 0, axis=0)
    jitter = rng.normal(0.0, ip.patient_variability)
    posterior = ip.us_posterior * (strength * (col_act - 0.35) + jitter)
    below = np.arange(n, dtype=np.float32)[:, None] - bottom[None, :]
    decay = np.where(below > 0, np.exp(-below / (0.3 * n)), 0.0) * col_has[None, :]
    image = image * np.clip(1.0 + posterior[None, :] * decay, 0.2, 3.0)
    speckle = rng.rayleigh(np.sqrt(2.0 / np.pi), (n, n)).astype(np.float32)
    return (image * (1.0 - ip.us_speckle + ip.us_speckle * speckle)).astype(np.float32)


def _render_mr(
    rng: np.random.Generator, tumor: Tumor, act: Float, share: float, params: SynthParams
) -> Float:
    ip, sizes = params.imaging, params.sizes
    n, s, phases = sizes.mr, sizes.mr_slices, sizes.mr_phases
    strength = ip.signal_scale * ip.mr_signal
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float32)
    breast = ((cols / (0.9 * n)) ** 2 + ((rows - n / 2) / (0.45 * n)) ** 2) < 1.0
    gland = _gland(rng, (s, n, n), 2.5, share) * breast[None]
    bz = int(np.clip(round(s * rng.uniform(0.5, 0.9)), 1, s))
    box = max(int(np.rint(n * rng.uniform(0.28, 0.45))), 4)
    corner = (
        int(rng.integers(0, s - bz + 1)),
        int(n / 2 - box / 2 + rng.integers(-n // 10, n // 10 + 1)),
        int(n * rng.uniform(0.15, 0.4)),
    )
    mask = np.zeros((s, n, n), dtype=np.float32)
    local = np.zeros((s, n, n), dtype=np.float32)
    _paste(mask, _resize(tumor.mask.astype(np.float32), (bz, box, box)), corner)
    _paste(local, _resize(act, (bz, box, box)), corner)
    var = ip.patient_variability
    amp = ip.mr_enhancement * np.exp(rng.normal(0.0, var))
    k_in = (0.5 + ip.mr_wash_in * strength * local) * np.exp(rng.normal(0.0, var))
    k_out = 0.03 + ip.mr_wash_out * strength * local
    bpe = ip.mr_bpe * (0.5 + share) * np.exp(rng.normal(0.0, var))
    pre = breast[None] * (0.12 + 0.2 * gland)
    pre = pre * (1.0 - mask) + 0.25 * mask
    volumes = [pre]
    for k in range(1, phases):
        t = float(k)
        tumor_enh = amp * (1.0 - np.exp(-k_in * t)) * np.exp(-k_out * t)
        bg_enh = bpe * gland * (1.0 - np.exp(-0.4 * t))
        volumes.append(pre + mask * tumor_enh + (1.0 - mask) * bg_enh)
    return np.stack(volumes).astype(np.float32)


def render_images(
    rng: np.random.Generator,
    tumor: Tumor,
    density_index: int,
    laterality: str,
    modalities: tuple[str, ...],
    site: SiteParams,
    params: SynthParams,
) -> dict[str, NDArray[np.uint16]]:
    """Pixel arrays of the patient's modalities, keyed ``MG_CC``, ``MG_MLO``, ``US``, ``MR``.

    ``MR`` has shape (phases, slices, H, W). Images are drawn for a left breast (chest wall at
    column 0) and mirrored left-right for a right breast.
    """
    share = params.biology.density_gland_fraction[density_index]
    act = activity(tumor)
    out: dict[str, NDArray[np.uint16]] = {}
    if "MG" in modalities:
        for key, image in _render_mg(rng, tumor, act, share, params).items():
            out[key] = to_pixels(image, site, rng)
    if "US" in modalities:
        out["US"] = to_pixels(_render_us(rng, tumor, act, share, params), site, rng)
    if "MR" in modalities:
        out["MR"] = to_pixels(_render_mr(rng, tumor, act, share, params), site, rng)
    if laterality == "R":
        out = {key: np.ascontiguousarray(arr[..., ::-1]) for key, arr in out.items()}
    return out
