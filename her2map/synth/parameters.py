"""Every tunable number of the virtual cohort, in one place, with its source.

The generator reads nothing else: biology (prevalence, heterogeneity, therapy response), the four
sites (vendor, noise, contrast, intensity scaling, modality availability) and the imaging effect
sizes (how strongly each modality's appearance follows the local HER2 expression). All are frozen
dataclasses; :data:`DEFAULT_PARAMS` is the embedded default. To tune, build a new one with
:func:`dataclasses.replace` (e.g. ``replace(DEFAULT_PARAMS, imaging=replace(DEFAULT_PARAMS.imaging,
signal_scale=0.7))``); the values used are recorded in ``cohort.json``.

Signal strength
---------------
The imaging signal is learnable but imperfect. The knobs that set how much of the whole-tumor HER2
status the images carry are :attr:`ImagingParams.signal_scale` (multiplies all three below),
:attr:`ImagingParams.mr_signal` (DCE wash-in / wash-out), :attr:`ImagingParams.mg_signal`
(calcifications, margins) and :attr:`ImagingParams.us_signal` (echo pattern, posterior features);
the knobs that hide it are the per-site ``noise`` and :attr:`BiologyParams.heterogeneity_sd`.

Sources of the biology figures
------------------------------
* HER2-positive prevalence 15-20 %: Howlader et al., JNCI 2014;106(5):dju055 (SEER: HR+/HER2+ 10 %,
  HR-/HER2+ 4-5 %, HR+/HER2- 73 %, triple negative 12 %).
* HER2-low (IHC 1+ or 2+/ISH-) about half of all breast cancers: Tarantino et al., JCO
  2020;38(17):1951-62; Schettini et al., NPJ Breast Cancer 2021;7:1 (47 %).
* Core-biopsy versus surgical-specimen HER2 discordance a few % to about 15 %: Chen et al.,
  meta-analysis, Breast Cancer Res Treat 2012;134:957-67; Greer et al., Arch Pathol Lab Med 2013.
* pCR by subtype and therapy: Cortazar et al., Lancet 2014;384:164-72 (CTNeoBC pooled analysis:
  HR+/HER2- 7.5-16.2 %, triple negative 33.6 %, HER2+/HR+ 18.3 % without and 30.9 % with
  trastuzumab, HER2+/HR- 30.2 % without and 50.3 % with trastuzumab); NeoSphere (Gianni et al.,
  Lancet Oncol 2012: 45.8 % with pertuzumab + trastuzumab + docetaxel); TRYPHAENA (Schneeweiss et
  al., Ann Oncol 2013: 57-66 %). Trastuzumab gives no benefit in HER2-negative disease
  (Fehrenbacher et al., JCO 2020, NSABP B-47).
* ASCO/CAP 2018 HER2 scoring: Wolff et al., JCO 2018;36(20):2105-22.
* BI-RADS density shares: Sprague et al., JNCI 2014;106(10):dju255 (a 10 %, b 43 %, c 39 %, d 8 %).
* Treatment pathway: neoadjuvant therapy (NAT) is the standard for HER2-positive and triple-negative
  disease above cT1b/cN0 and the exception for HR+/HER2- disease (NCCN Breast Cancer guideline
  v4.2023; Murphy et al., Ann Surg Oncol 2018;25:2241-8, NCDB: NAT used most in triple-negative and
  HER2-positive disease). The pathway is chosen from the BIOPSY subtype (the only one known then).
* Dual anti-HER2 blockade pCR 46-66 % (NeoSphere 45.8 %, TRYPHAENA 57-66 %); HER2-negative NAT pCR
  about 17-19 % overall (Cortazar 2014: HR+/HER2- 7.5-16.2 %, triple negative 33.6 %).
* HER2 change in residual tumour after NAT: loss of HER2 positivity in about 15-21 % of HER2+
  tumours with residual disease after trastuzumab-based NAT (Guarneri et al., Ann Oncol
  2013;24:2990-4); gain in HER2-negative residual disease rare, a few % (van de Ven et al., Cancer
  Treat Rev 2011;37:422-30, systematic review of receptor change after NAT).
* Race/ethnicity as recorded: shares of US breast cancer incidence (SEER, Howlader 2014 above:
  non-Hispanic White about 65 %, Black 12 %, Hispanic 11 %, Asian/Pacific Islander 8 %), with
  "Other" and "Not recorded" as registries record them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from her2map.exceptions import CohortError

__all__ = [
    "DEFAULT_PARAMS",
    "SITE_IDS",
    "BiologyParams",
    "ImageSizes",
    "ImagingParams",
    "ScannerParams",
    "SiteParams",
    "SynthParams",
]

#: Site identifiers; D is the held-out external site (MRI only), A-C are development sites.
SITE_IDS: tuple[str, ...] = ("A", "B", "C", "D")


@dataclass(frozen=True)
class ScannerParams:
    """One scanner vendor's model and image processing, the same wherever it is installed.

    Attributes
    ----------
    manufacturer, model_name : str
        Fictional vendor and model written into every DICOM file.
    gain, offset, gamma : float
        The vendor's intensity scaling and contrast curve (see :class:`SiteParams`).
    """

    manufacturer: str
    model_name: str
    gain: float
    offset: float
    gamma: float


@dataclass(frozen=True)
class SiteParams:
    """One site: its scanners, its patients' share, modality availability and image effects.

    The scalar scanner fields (``manufacturer`` ... ``gamma``) describe the scanner one patient is
    imaged on; :attr:`scanners` lists the vendors installed at the site with their shares of its
    patients, and :meth:`with_scanner` gives the site as seen through one of them (each patient
    draws one). A site with no :attr:`scanners` has the single scanner of its scalar fields.

    Attributes
    ----------
    site : str
        Site id ``"A"``-``"D"``.
    weight : float
        Share of the cohort (sites are allocated by largest remainder, then shuffled).
    manufacturer, model_name, institution : str
        Fictional scanner vendor, model and hospital written into every DICOM file.
    p_mg, p_us, p_mr : float
        Probability that a patient of this site has mammography (CC + MLO), ultrasound, DCE-MRI.
        A patient drawn with none gets one modality drawn in proportion to these.
    noise : float
        Additive Gaussian noise SD, in units of the rendered image's dynamic range (~0-1.5).
    gain, offset : float
        Intensity scaling: pixel = offset + gain * 2000 * image**gamma (12-bit, clipped).
    gamma : float
        Contrast curve exponent of the site's processing.
    scanners : tuple of (ScannerParams, share)
        The vendors at the site and the share of its patients imaged on each (shares sum to 1).
    """

    site: str
    weight: float
    manufacturer: str
    model_name: str
    institution: str
    p_mg: float
    p_us: float
    p_mr: float
    noise: float
    gain: float
    offset: float
    gamma: float
    scanners: tuple[tuple[ScannerParams, float], ...] = ()

    def __post_init__(self) -> None:
        if self.scanners and abs(sum(share for _, share in self.scanners) - 1.0) > 1e-9:
            raise CohortError(
                f"site {self.site}: scanner shares must sum to 1; got "
                f"{[share for _, share in self.scanners]}"
            )

    def with_scanner(self, scanner: ScannerParams) -> SiteParams:
        """This site imaged on ``scanner``: the site's noise, the vendor's processing."""
        return replace(
            self,
            manufacturer=scanner.manufacturer,
            model_name=scanner.model_name,
            gain=scanner.gain,
            offset=scanner.offset,
            gamma=scanner.gamma,
            scanners=(),
        )


@dataclass(frozen=True)
class BiologyParams:
    """Tumor biology: HER2 expression maps, ASCO/CAP scoring, biopsy, receptor status and pCR.

    Expression is a per-cell continuous IHC score ``e``: cells score 0 below 0.5, 1+ below 1.5,
    2+ below 2.5 and 3+ above (:attr:`ihc_cuts`). A tumor's mean level comes from a three-group
    mixture (HER2-0 / HER2-low / HER2-amplified); the map around it is a smooth Gaussian random
    field with within-tumor SD :attr:`heterogeneity_sd` (drawn per tumor between the two bounds)
    and correlation length :attr:`correlation_length` grid voxels. Tuned (with
    ``tests/test_synth_realism.py``) so that the prevalence, HER2-low share and biopsy discordance
    land in the published ranges cited in the module docstring (about 17-18 % HER2-positive,
    53 % HER2-low, 6 % biopsy discordance at the default).

    Attributes
    ----------
    tumor_grid : voxels per side of the tumor's cubic grid.
    group_probs, group_means, group_sds : HER2-0 / HER2-low / amplified mixture of the tumor's mean
        expression (probability, mean, SD); ``group_probs[2]`` mainly sets the HER2+ prevalence.
    heterogeneity_sd : (low, high) bounds of the per-tumor within-tumor expression SD; with
        ``correlation_length`` (voxels) it sets biopsy discordance.
    ihc_cuts, positive_cell_fraction : cell-level 1+/2+/3+ cut-offs and the ASCO/CAP >10 % rule.
    ish_ratio_means, ish_ratio_sd, ish_coupling, ish_ratio_cut : per-group mean HER2/CEP17 ratio,
        its log-SD between tumors, its coupling to local expression, the 2.0 positivity cut.
    core_half_width, core_half_length : needle core block (voxels) around one location.
    p_hr_given_her2_pos, p_hr_given_her2_neg : HR-positive share (Howlader 2014: 67 %, 86 %).
    pcr_pos_anti_her2, pcr_pos_chemo, pcr_neg : pCR probability as (HR-negative, HR-positive)
        for HER2+ given anti-HER2, HER2+ given chemotherapy only, HER2- (Cortazar 2014 et al.).
    pcr_homogeneity_logit, pcr_homogeneity_reference : logit shift per unit of the 3+ cell
        fraction above the reference for anti-HER2-treated HER2+ tumors (heterogeneous tumors
        respond less; Filho et al., JCO 2021).
    p_nat : probability of neoadjuvant therapy (rather than upfront surgery) by the BIOPSY subtype
        (HER2-positive, triple negative, HR-positive/HER2-negative).
    p_residual_her2_loss, p_residual_her2_gain : chance that residual tumour after NAT tests
        HER2-negative although the pretreatment tumour was positive (after anti-HER2 therapy), or
        positive although it was negative (post-therapy conversion; Guarneri 2013, van de Ven 2011).
    race_categories, race_probs : race/ethnicity as recorded and its shares.
    age_mean, age_sd, age_range : age at diagnosis (years).
    density_probs, density_gland_fraction : BI-RADS a-d shares and fibroglandular fraction.
    p_left : share of left-sided tumors.
    """

    tumor_grid: int = 24
    group_probs: tuple[float, float, float] = (0.45, 0.43, 0.12)
    group_means: tuple[float, float, float] = (-0.4, 0.95, 2.8)
    group_sds: tuple[float, float, float] = (0.3, 0.35, 0.45)
    heterogeneity_sd: tuple[float, float] = (0.3, 0.9)
    correlation_length: float = 4.0
    ihc_cuts: tuple[float, float, float] = (0.5, 1.5, 2.5)
    positive_cell_fraction: float = 0.10
    ish_ratio_means: tuple[float, float, float] = (1.2, 1.35, 4.0)
    ish_ratio_sd: float = 0.3
    ish_coupling: float = 0.8
    ish_ratio_cut: float = 2.0
    core_half_width: int = 1
    core_half_length: int = 4
    p_hr_given_her2_pos: float = 0.67
    p_hr_given_her2_neg: float = 0.86
    pcr_pos_anti_her2: tuple[float, float] = (0.68, 0.50)
    pcr_pos_chemo: tuple[float, float] = (0.30, 0.18)
    pcr_neg: tuple[float, float] = (0.32, 0.10)
    pcr_homogeneity_logit: float = 1.0
    pcr_homogeneity_reference: float = 0.6
    p_nat: tuple[float, float, float] = (0.80, 0.70, 0.20)
    p_residual_her2_loss: float = 0.15
    p_residual_her2_gain: float = 0.03
    race_categories: tuple[str, ...] = (
        "White", "Black", "Hispanic", "Asian", "Other", "Not recorded",
    )  # fmt: skip
    race_probs: tuple[float, ...] = (0.62, 0.12, 0.11, 0.08, 0.03, 0.04)
    age_mean: float = 55.0
    age_sd: float = 11.0
    age_range: tuple[int, int] = (25, 85)
    density_probs: tuple[float, float, float, float] = (0.10, 0.43, 0.39, 0.08)
    density_gland_fraction: tuple[float, float, float, float] = (0.08, 0.25, 0.5, 0.75)
    p_left: float = 0.52


@dataclass(frozen=True)
class ImagingParams:
    """Effect sizes of the imaging model (see the module docstring's *Signal strength*).

    ``*_signal`` multiply how strongly each modality follows the LOCAL expression; 0 removes the
    HER2 signal from that modality (anatomy and site effects stay). ``signal_scale`` multiplies
    all three. The defaults give an informative but imperfect signal; the model helper tunes them
    so that the locked model's external (site D) AUC lands in 0.80-0.95. A crude hand-made DCE
    wash-out feature reaches AUC about 0.79 / 0.87 / 0.90 / 0.92 on site D at ``signal_scale``
    0.3 / 0.5 / 0.7 / 1.0 (300 patients), and about 0.5 at 0.

    Attributes
    ----------
    signal_scale, mr_signal, mg_signal, us_signal : HER2 signal strength (see above).
    mr_wash_in, mr_wash_out : increase of DCE wash-in / wash-out rate per unit local activity.
    mr_enhancement, mr_bpe : tumor peak enhancement; background parenchymal enhancement.
    mg_mass_density : mammographic attenuation per voxel of tumor thickness.
    mg_calcification_base, mg_calcification_rate : calcification probability per tumor voxel,
        baseline and per squared unit of local activity.
    mg_spicules, mg_spicule_prob : candidate spicule directions; spicule probability where the
        local activity is 0 (falls with activity).
    us_echo, us_posterior, us_speckle : internal echo per unit activity; posterior enhancement /
        shadowing per unit activity; share of multiplicative speckle.
    patient_variability : log-SD of per-patient kinetic / posterior nuisance factors.
    """

    signal_scale: float = 1.0
    mr_signal: float = 1.3
    mg_signal: float = 1.0
    us_signal: float = 1.0
    mr_wash_in: float = 1.2
    mr_wash_out: float = 0.35
    mr_enhancement: float = 0.9
    mr_bpe: float = 0.25
    mg_mass_density: float = 0.04
    mg_calcification_base: float = 0.0005
    mg_calcification_rate: float = 0.004
    mg_spicules: int = 10
    mg_spicule_prob: float = 0.8
    us_echo: float = 0.35
    us_posterior: float = 0.6
    us_speckle: float = 0.35
    patient_variability: float = 0.25


@dataclass(frozen=True)
class ImageSizes:
    """Pixel sizes of the written images (docs/INTERFACES.md defaults).

    Raises :class:`her2map.exceptions.CohortError` when a size is below its minimum (16 pixels,
    1 slice, 3 DCE phases: pre-contrast and at least two post-contrast).
    """

    mg: int = 96
    us: int = 64
    mr: int = 48
    mr_slices: int = 8
    mr_phases: int = 3

    def __post_init__(self) -> None:
        minimum = {"mg": 16, "us": 16, "mr": 16, "mr_slices": 1, "mr_phases": 3}
        for name, low in minimum.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise CohortError(
                    f"image size {name} must be an integer >= {low}; got {value!r}. "
                    "Use a larger size."
                )


#: Four fictional vendors, each installed at two or more sites.
_AURORA = ScannerParams("Aurora Imaging", "AX-500", 1.00, 40.0, 1.00)
_BOREALIS = ScannerParams("Borealis Medical", "BM Vista 3", 0.85, 90.0, 1.15)
_CYGNUS = ScannerParams("Cygnus Systems", "CS-Quant 7", 1.15, 10.0, 0.90)
_DELPHI = ScannerParams("Delphi Diagnostics", "DD Magna 1.5T", 0.95, 60.0, 1.05)


def _site(
    site: str, weight: float, institution: str, modality: tuple[float, float, float],
    noise: float, scanners: tuple[tuple[ScannerParams, float], ...],
) -> SiteParams:  # fmt: skip
    first = scanners[0][0]
    return SiteParams(
        site, weight, first.manufacturer, first.model_name, institution, *modality, noise,
        first.gain, first.offset, first.gamma, scanners,
    )  # fmt: skip


def _default_sites() -> tuple[SiteParams, ...]:
    # Modality probabilities give on average 2.07 DICOM files per patient (counting each MG view,
    # the US image and each of 3 MR phases), as the paper's 14,472 images / 6,991 patients.
    # Every site runs two vendors and every vendor is installed at two sites, so per-vendor and
    # per-site analyses differ (site D, the external MRI-only site, shares its vendors with A and C).
    return (
        _site("A", 0.35, "Northfield General Hospital", (0.35, 0.45, 0.05), 0.030,
              ((_AURORA, 0.6), (_BOREALIS, 0.4))),
        _site("B", 0.25, "Riverside University Clinic", (0.30, 0.50, 0.07), 0.045,
              ((_BOREALIS, 0.55), (_CYGNUS, 0.45))),
        _site("C", 0.20, "Lakeshore Cancer Centre", (0.30, 0.40, 0.10), 0.060,
              ((_CYGNUS, 0.5), (_DELPHI, 0.5))),
        _site("D", 0.20, "Harbourview Breast Institute", (0.0, 0.0, 1.0), 0.050,
              ((_DELPHI, 0.6), (_AURORA, 0.4))),
    )  # fmt: skip


@dataclass(frozen=True)
class SynthParams:
    """All parameters of one cohort: biology, imaging effects, image sizes and the four sites."""

    biology: BiologyParams = field(default_factory=BiologyParams)
    imaging: ImagingParams = field(default_factory=ImagingParams)
    sizes: ImageSizes = field(default_factory=ImageSizes)
    sites: tuple[SiteParams, ...] = field(default_factory=_default_sites)

    def site(self, site_id: str) -> SiteParams:
        """The :class:`SiteParams` of ``site_id``."""
        for item in self.sites:
            if item.site == site_id:
                return item
        raise KeyError(site_id)


#: The embedded default parameters.
DEFAULT_PARAMS = SynthParams()
