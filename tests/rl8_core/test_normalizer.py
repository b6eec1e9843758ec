"""``RunningMeanStd`` and ``ObsNormalizer``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from rl8_core import ObsNormalizer, RunningMeanStd
from specs import Box, Composite, Discrete, MultiBinary


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_running_mean_std_matches_numpy(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    rms = RunningMeanStd(shape)
    batches = [rng.normal(loc=5.0, scale=3.0, size=(n, *shape)) for n in (1, 7, 100, 2, 513)]
    for i, batch in enumerate(batches):
        rms.update(torch.as_tensor(batch, dtype=torch.float32))
        seen = np.concatenate([b.astype(np.float32) for b in batches[: i + 1]]).astype(np.float64)
        np.testing.assert_allclose(rms.mean.numpy(), seen.mean(0), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(rms.var.numpy(), seen.var(0), rtol=1e-10, atol=1e-10)
        assert rms.count.item() == len(seen)
    assert rms.mean.dtype == torch.float64


def test_running_mean_std_folds_leading_dims_and_ignores_empty_batches() -> None:
    rms = RunningMeanStd((2,))
    x = torch.arange(24, dtype=torch.float32).reshape(3, 4, 2)
    rms.update(x)
    flat = x.reshape(-1, 2).double()
    torch.testing.assert_close(rms.mean, flat.mean(0))
    torch.testing.assert_close(rms.var, flat.var(0, unbiased=False))
    assert rms.count.item() == 12
    rms.update(torch.zeros(0, 2))
    assert rms.count.item() == 12


def test_running_mean_std_normalises_and_clips() -> None:
    rms = RunningMeanStd((2,), clip=1.5)
    rms.update(torch.tensor([[0.0, 10.0], [2.0, 30.0]]))  # mean [1, 20], var [1, 100]
    out = rms(torch.tensor([[1.0, 20.0], [2.0, 30.0], [100.0, -1000.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.5, -1.5]]))
    assert out.dtype == torch.float32
    assert rms(torch.ones(1, 2, dtype=torch.float64)).dtype == torch.float64


def test_running_mean_std_default_clip_and_fresh_identity() -> None:
    rms = RunningMeanStd((1,))
    x = torch.tensor([[-50.0], [0.5], [50.0]])
    torch.testing.assert_close(rms(x), torch.tensor([[-10.0], [0.5], [10.0]]))


def test_running_mean_std_state_round_trip() -> None:
    rms = RunningMeanStd((3,))
    rms.update(torch.randn(50, 3) * 2 + 1)
    other = RunningMeanStd((3,))
    other.load_state_dict(rms.state_dict())
    x = torch.randn(4, 3)
    torch.testing.assert_close(other(x), rms(x))
    assert set(rms.state_dict()) == {"mean", "var", "count"}


COMPOSITE = Composite(
    {
        "pos": Box((2,)),
        "image": Box((2, 2), low=0, high=255, dtype=torch.uint8),
        "mode": Discrete(3),
        "flags": MultiBinary(2),
        "nested": {"vel": Box((1,), dtype=torch.float64)},
    }
)


def test_keys_that_would_collide_when_joined_keep_separate_statistics() -> None:
    spec = Composite({"a__b": Box((1,)), "a": {"b": Box((1,))}})
    norm = ObsNormalizer(spec)
    assert norm.paths == [("a__b",), ("a", "b")]
    data = spec.zero((4,))
    data.set("a__b", torch.full((4, 1), 10.0))
    norm.update(data)
    assert norm.stats[0].mean.item() == 10.0
    assert norm.stats[1].mean.item() == 0.0


def test_obs_normalizer_on_composite_normalises_only_float_boxes() -> None:
    norm = ObsNormalizer(COMPOSITE)
    assert norm.paths == [("pos",), ("nested", "vel")]
    assert len(norm.stats) == 2  # statistics by position in ``paths``
    gen = torch.Generator().manual_seed(0)
    data = COMPOSITE.rand((64,), generator=gen)
    data.set("pos", data.get("pos") * 4 + 7)
    norm.update(data)
    out = norm(data)
    assert isinstance(out, TensorDict)
    for key in ("image", "mode", "flags"):
        assert out.get(key) is data.get(key)
    pos = out.get("pos")
    torch.testing.assert_close(pos.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(pos.std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    vel = out.get(("nested", "vel"))
    assert vel.dtype == torch.float64
    torch.testing.assert_close(vel.mean(0), torch.zeros(1, dtype=torch.float64), atol=1e-6, rtol=0)
    # The input is not modified in place.
    assert not torch.equal(data.get("pos"), pos)


def test_obs_normalizer_on_a_leaf() -> None:
    norm = ObsNormalizer(Box((3,)), clip=2.0)
    x = torch.randn(200, 3) * 10 + 5
    norm.update(x)
    out = norm(x)
    assert isinstance(out, torch.Tensor)
    assert out.abs().max() <= 2.0
    assert set(norm.state_dict()) == {"stats.0.mean", "stats.0.var", "stats.0.count"}


@pytest.mark.parametrize("spec", [Discrete(4), Box((2,), low=0, high=9, dtype=torch.int64), MultiBinary(3)], ids=repr)
def test_obs_normalizer_leaves_non_float_leaves_alone(spec: Discrete | Box | MultiBinary) -> None:
    norm = ObsNormalizer(spec)
    assert len(norm.stats) == 0
    x = spec.rand((5,))
    norm.update(x)
    assert norm(x) is x


def test_obs_normalizer_clip_applies_to_every_leaf() -> None:
    norm = ObsNormalizer(COMPOSITE, clip=0.5)
    data = COMPOSITE.rand((8,))
    data.set("pos", torch.full((8, 2), 100.0))
    out = norm(data)  # fresh statistics: mean 0, var 1
    torch.testing.assert_close(out.get("pos"), torch.full((8, 2), 0.5))
