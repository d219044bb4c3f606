"""Model: masked-mean fusion over any subset of modalities; alignment loss inside the training loss.

References are independent: a plain numpy loop for the cosine alignment loss and the mean of
per-modality embeddings computed one modality at a time (``net.encode``), never the fused code path.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from her2map.exceptions import DicomError
from her2map.model import (
    ArchitectureConfig,
    Her2MapNet,
    alignment_loss,
    collate,
    masked_mean,
    training_loss,
)
from her2map.preprocess import MODALITY_KEYS, PreprocessConfig, preprocess_study

PREP = PreprocessConfig()
SUBSETS = [
    subset
    for r in range(1, len(MODALITY_KEYS) + 1)
    for subset in itertools.combinations(MODALITY_KEYS, r)
]


def _raw(key: str, rng: np.random.Generator) -> np.ndarray:
    shapes = {"MG_CC": (96, 96), "MG_MLO": (96, 96), "US": (64, 64), "MR": (3, 8, 48, 48)}
    return (rng.random(shapes[key]) * 4000.0).astype(np.float32)


def _study(keys: tuple[str, ...], seed: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return preprocess_study({key: _raw(key, rng) for key in keys}, PREP)


@pytest.fixture(scope="module")
def net() -> Her2MapNet:
    torch.manual_seed(7)
    return Her2MapNet(ArchitectureConfig()).eval()


@pytest.mark.req("REQ-MOD-001")
def test_every_subset_predicts_the_mean_of_present_embeddings(net: Her2MapNet) -> None:
    studies = [_study(keys, seed) for seed, keys in enumerate(SUBSETS)]
    inputs, mask = collate(studies, PREP)
    with torch.no_grad():
        output = net(inputs, mask)
        for row, keys in enumerate(SUBSETS):
            one = [net.encode(key, studies[row][key][None])[0] for key in keys]
            fused = torch.stack(one).mean(dim=0)
            expected = net.head(fused[None])[0, 0]
            assert mask[row].tolist() == [key in keys for key in MODALITY_KEYS]
            torch.testing.assert_close(output.logits[row], expected, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(output.logits).all()


@pytest.mark.req("REQ-MOD-001")
@pytest.mark.parametrize("fill", ["random", "nan", "huge"])
def test_padding_of_absent_modalities_cannot_change_the_output(net: Her2MapNet, fill: str) -> None:
    studies = [_study(keys, 100 + seed) for seed, keys in enumerate(SUBSETS)]
    inputs, mask = collate(studies, PREP)
    rng = np.random.default_rng(3)
    tampered = {}
    for column, key in enumerate(MODALITY_KEYS):
        x = inputs[key].clone()
        absent = ~mask[:, column]
        values = {
            "random": torch.from_numpy(rng.normal(size=x[absent].shape).astype(np.float32)),
            "nan": torch.full(x[absent].shape, float("nan")),
            "huge": torch.full(x[absent].shape, 3e38),
        }[fill]
        x[absent] = values
        tampered[key] = x
    with torch.no_grad():
        clean = net(inputs, mask).logits
        dirty = net(tampered, mask).logits
    assert torch.equal(clean, dirty)


@pytest.mark.req("REQ-MOD-001")
def test_masked_mean_ignores_non_finite_absent_slots_and_rejects_empty_rows() -> None:
    emb = torch.tensor([[[1.0, 2.0], [float("nan"), 0.0], [3.0, 6.0]]])
    mask = torch.tensor([[True, False, True]])
    torch.testing.assert_close(masked_mean(emb, mask), torch.tensor([[2.0, 4.0]]))
    with pytest.raises(ValueError, match="at least one modality"):
        masked_mean(emb, torch.zeros(1, 3, dtype=torch.bool))


def _alignment_reference(emb: np.ndarray, mask: np.ndarray) -> float:
    terms = []
    for b in range(emb.shape[0]):
        for i in range(emb.shape[1]):
            for j in range(i + 1, emb.shape[1]):
                if mask[b, i] and mask[b, j]:
                    u, v = emb[b, i], emb[b, j]
                    terms.append(1.0 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
    return float(np.mean(terms)) if terms else 0.0


@pytest.mark.req("REQ-MOD-001")
def test_alignment_loss_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(11)
    emb = rng.normal(size=(6, 4, 5))
    mask = rng.random((6, 4)) < 0.6
    mask[0] = [True, False, False, False]  # single modality: contributes no pair
    got = alignment_loss(torch.from_numpy(emb), torch.from_numpy(mask)).item()
    assert got == pytest.approx(_alignment_reference(emb, mask), rel=1e-12)
    none = np.zeros((2, 4), dtype=bool)
    none[:, 2] = True
    assert alignment_loss(torch.from_numpy(emb[:2]), torch.from_numpy(none)).item() == 0.0


def _first_mr_conv(model: Her2MapNet) -> torch.nn.Conv2d:
    conv = model.mr_trunk.body[0]
    assert isinstance(conv, torch.nn.Conv2d)
    return conv


@pytest.mark.req("REQ-MOD-001")
def test_training_loss_is_bce_plus_weighted_alignment_and_changes_gradients() -> None:
    torch.manual_seed(5)
    model = Her2MapNet(ArchitectureConfig())
    keys = [("MG_CC", "MG_MLO", "US"), ("US", "MR"), ("MR",), ("MG_CC", "MR")]
    inputs, mask = collate([_study(k, 40 + i) for i, k in enumerate(keys)], PREP)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])

    def loss_and_grad(weight: float) -> tuple[float, float, float, torch.Tensor]:
        model.zero_grad()
        output = model(inputs, mask)
        parts = training_loss(output, labels, align_weight=weight)
        parts.total.backward()
        grad = _first_mr_conv(model).weight.grad
        assert grad is not None
        emb = output.embeddings.detach().double().numpy()
        logits = output.logits.detach().double().numpy()
        p = 1.0 / (1.0 + np.exp(-logits))
        bce = -np.mean(labels.numpy() * np.log(p) + (1 - labels.numpy()) * np.log(1 - p))
        align = _alignment_reference(emb, mask.numpy())
        return parts.total.item(), bce, align, grad.clone()

    total0, bce0, _, grad0 = loss_and_grad(0.0)
    total1, bce1, align1, grad1 = loss_and_grad(0.5)
    assert total0 == pytest.approx(bce0, rel=1e-5)
    assert total1 == pytest.approx(bce1 + 0.5 * align1, rel=1e-5)
    assert align1 > 0.01
    assert not torch.allclose(grad0, grad1)
    # the gradient difference is exactly the gradient of 0.5 * alignment
    model.zero_grad()
    output = model(inputs, mask)
    (0.5 * alignment_loss(output.embeddings, output.mask)).backward()
    align_grad = _first_mr_conv(model).weight.grad
    assert align_grad is not None
    torch.testing.assert_close(grad1 - grad0, align_grad, rtol=1e-4, atol=1e-6)


def test_preprocess_shapes_and_mr_kinetic_maps() -> None:
    rng = np.random.default_rng(2)
    mr = np.stack([np.full((8, 48, 48), 100.0 * (p + 1)) for p in range(5)]).astype(np.float32)
    mr += rng.normal(scale=1.0, size=mr.shape).astype(np.float32)
    out = preprocess_study({"MR": mr, "US": _raw("US", rng)}, PREP)
    assert list(out) == ["US", "MR"]
    assert tuple(out["MR"].shape) == PREP.input_shape("MR") == (4, 8, 24, 24)
    assert tuple(out["US"].shape) == (1, 32, 32)
    # numpy reference: phases pre (0), first post (1), last post (4); 2x2 block means ("area");
    # standardised by the resampled pre phase; then S0, S1 - S0, Sl - S1, clipped ratio
    blocks = mr[[0, 1, 4]].reshape(3, 8, 24, 2, 24, 2).astype(np.float64).mean(axis=(3, 5))
    z = (blocks - blocks[0].mean()) / blocks[0].std()
    wash_in, wash_out = z[1] - z[0], z[2] - z[1]
    ser = np.clip(wash_out / (np.abs(wash_in) + PREP.ser_floor), -PREP.ser_clip, PREP.ser_clip)
    expected = np.stack([z[0], wash_in, wash_out, ser])
    np.testing.assert_allclose(out["MR"].numpy(), expected, rtol=1e-4, atol=1e-3)


def test_preprocess_rejects_bad_arrays() -> None:
    with pytest.raises(DicomError, match="modality US: expected a 2-D pixel array"):
        preprocess_study({"US": np.zeros((2, 3, 4))}, PREP)
    with pytest.raises(DicomError, match="not finite"):
        preprocess_study({"MG_CC": np.full((8, 8), np.nan)}, PREP)
    with pytest.raises(DicomError, match="at least 3 DCE phases"):
        preprocess_study({"MR": np.ones((2, 8, 48, 48))}, PREP)
    with pytest.raises(DicomError, match="unknown modality"):
        preprocess_study({"CT": np.ones((8, 8))}, PREP)
