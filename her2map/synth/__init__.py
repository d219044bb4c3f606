"""Virtual multi-site HER2 cohort: tumor expression maps, clinical course, DICOM imaging.

``synth(out, patients=N, seed=S)`` writes the cohort folder (``her2map synth`` on the command
line); :func:`simulate_clinical` gives the same clinical and truth tables without images. Every
tunable effect size is in :mod:`her2map.synth.parameters`.
"""

from her2map.synth.clinical import CLINICAL_COLUMNS, TRUTH_COLUMNS, simulate_clinical
from her2map.synth.generate import SynthSummary, synth
from her2map.synth.parameters import (
    DEFAULT_PARAMS,
    BiologyParams,
    ImageSizes,
    ImagingParams,
    SiteParams,
    SynthParams,
)

__all__ = [
    "CLINICAL_COLUMNS",
    "DEFAULT_PARAMS",
    "TRUTH_COLUMNS",
    "BiologyParams",
    "ImageSizes",
    "ImagingParams",
    "SiteParams",
    "SynthParams",
    "SynthSummary",
    "simulate_clinical",
    "synth",
]
