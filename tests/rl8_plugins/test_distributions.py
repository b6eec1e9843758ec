"""The built-in ``categorical`` and ``normal`` distributions against ``torch.distributions``."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as td

from rl8_core import Distribution, Registry
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.distributions.normal import Normal
from specs import Box, Discrete, MultiDiscrete

BATCH_SIZES = [1, 2, 7, 64, 300]

# Discrete specs with and without an offset, and with a non-default dtype.
DISCRETE_SPECS = [Discrete(2), Discrete(5, start=-2), Discrete(7, start=10, dtype=torch.int32)]
# Box specs: vector, multi-dim, float64.
BOX_SPECS = [Box((1,)), Box((3,)), Box((2, 3)), Box((4,), dtype=torch.float64)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _logits(b: int, n: int, seed: int) -> torch.Tensor:
    return torch.randn(b, n, generator=_gen(seed)) * 2


def _normal_inputs(b: int, spec: Box, seed: int) -> torch.Tensor:
    d = spec.numel
    g = _gen(seed)
    return torch.cat([torch.randn(b, d, generator=g) * 2, torch.randn(b, d, generator=g) * 0.5], dim=-1)


def _torch_normal(inputs: torch.Tensor) -> td.Independent:  # type: ignore[type-arg]
    mean, log_std = inputs.float().chunk(2, dim=-1)
    return td.Independent(td.Normal(mean, log_std.exp()), 1)


# --- Categorical ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", DISCRETE_SPECS, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_categorical_matches_torch(spec: Discrete, b: int) -> None:
    logits, other_logits = _logits(b, spec.n, 0), _logits(b, spec.n, 1)
    ours, other = Categorical(logits, spec), Categorical(other_logits, spec)
    ref, ref_other = td.Categorical(logits=logits), td.Categorical(logits=other_logits)

    actions = spec.rand((b,), generator=_gen(2))
    torch.testing.assert_close(ours.logp(actions), ref.log_prob(actions.long() - spec.start))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    torch.testing.assert_close(ours.kl(other), td.kl_divergence(ref, ref_other))
    torch.testing.assert_close(ours.probs, ref.probs)
    for out in (ours.logp(actions), ours.entropy(), ours.kl(other)):
        assert out.shape == (b,)
        assert out.dtype == torch.float32


@pytest.mark.parametrize("spec", DISCRETE_SPECS, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_categorical_samples_belong_to_the_spec(spec: Discrete, b: int) -> None:
    dist = Categorical(_logits(b, spec.n, 3), spec)
    for actions in (dist.sample(), dist.deterministic_sample()):
        assert actions.shape == (b,)
        assert actions.dtype == spec.dtype
        spec.validate(actions, batch_shape=(b,))
    expected = dist.logits.argmax(-1) + spec.start
    torch.testing.assert_close(dist.deterministic_sample(), expected.to(spec.dtype))


def test_categorical_sample_frequencies_match_probs() -> None:
    torch.manual_seed(0)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    n = 20_000
    dist = Categorical(probs.log().expand(n, -1), Discrete(4, start=3))
    counts = torch.bincount(dist.sample() - 3, minlength=4).float() / n
    # Binomial std at p=0.4 and n=20000 is ~0.0035; 0.02 is > 5 sigma.
    torch.testing.assert_close(counts, probs, atol=0.02, rtol=0)


def test_categorical_masked_actions_are_never_sampled_and_keep_things_finite() -> None:
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, -torch.inf, 1.0, -torch.inf]]).expand(1000, -1)
    dist = Categorical(logits, Discrete(4))
    actions = dist.sample()
    assert set(actions.unique().tolist()) <= {0, 2}
    assert torch.isfinite(dist.entropy()).all()
    assert torch.isfinite(dist.kl(Categorical(torch.zeros(1000, 4), Discrete(4)))).all()
    assert torch.isfinite(dist.logp(actions)).all()
    ref = td.Categorical(logits=torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(dist.entropy()[0], ref.entropy())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_categorical_computes_in_float32(dtype: torch.dtype) -> None:
    logits = _logits(16, 5, 4).to(dtype)
    ours, ref = Categorical(logits, Discrete(5)), td.Categorical(logits=logits.float())
    actions = torch.arange(16) % 5
    assert ours.logits.dtype == torch.float32
    for got, want in ((ours.logp(actions), ref.log_prob(actions)), (ours.entropy(), ref.entropy())):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)
    assert ours.sample().dtype == torch.int64


def test_categorical_gradients_flow_through_logp() -> None:
    logits = _logits(8, 3, 5).requires_grad_()
    dist = Categorical(logits, Discrete(3))
    (dist.logp(dist.sample()).sum() + dist.entropy().sum()).backward()
    assert logits.grad is not None
    assert logits.grad.abs().sum() > 0


def test_categorical_has_no_rsample() -> None:
    dist = Categorical(torch.zeros(2, 3), Discrete(3))
    assert Categorical.has_rsample is False
    with pytest.raises(NotImplementedError, match="Categorical has no reparameterised sample"):
        dist.rsample()


def test_categorical_sizes_and_support() -> None:
    assert Categorical.required_inputs(Discrete(5, start=3)) == 5
    assert Categorical.state_independent_inputs(Discrete(5)) == 0
    assert Categorical.supports(Discrete(2))
    assert not Categorical.supports(Box((2,)))
    assert not Categorical.supports(MultiDiscrete([2, 3]))
    with pytest.raises(TypeError, match="Categorical needs a Discrete action spec"):
        Categorical.required_inputs(Box((2,)))
    with pytest.raises(TypeError, match="Categorical needs a Discrete action spec"):
        Categorical(torch.zeros(1, 2), Box((2,)))
    with pytest.raises(TypeError, match="Categorical got unknown options: temperature"):
        Categorical(torch.zeros(1, 2), Discrete(2), temperature=2.0)
    with pytest.raises(TypeError, match="KL between Categorical and Normal"):
        Categorical(torch.zeros(1, 2), Discrete(2)).kl(Normal(torch.zeros(1, 2), Box((1,))))


# --- Normal -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", BOX_SPECS, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_normal_matches_torch(spec: Box, b: int) -> None:
    inputs, other_inputs = _normal_inputs(b, spec, 0), _normal_inputs(b, spec, 1)
    ours, other = Normal(inputs, spec), Normal(other_inputs, spec)
    ref, ref_other = _torch_normal(inputs), _torch_normal(other_inputs)

    actions = torch.randn(b, *spec.shape, generator=_gen(2), dtype=spec.dtype) * 3
    torch.testing.assert_close(ours.logp(actions), ref.log_prob(actions.reshape(b, -1).float()))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    torch.testing.assert_close(ours.kl(other), td.kl_divergence(ref, ref_other))
    for out in (ours.logp(actions), ours.entropy(), ours.kl(other)):
        assert out.shape == (b,)
        assert out.dtype == torch.float32


@pytest.mark.parametrize("spec", BOX_SPECS, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_normal_samples_belong_to_the_spec(spec: Box, b: int) -> None:
    inputs = _normal_inputs(b, spec, 3)
    dist = Normal(inputs, spec)
    for actions in (dist.sample(), dist.rsample(), dist.deterministic_sample()):
        assert actions.shape == (b, *spec.shape)
        assert actions.dtype == spec.dtype
        spec.validate(actions, batch_shape=(b,))
    mean = inputs[:, : spec.numel].reshape(b, *spec.shape).to(spec.dtype)
    torch.testing.assert_close(dist.deterministic_sample(), mean)


def test_normal_sample_moments_match_inputs() -> None:
    torch.manual_seed(0)
    n = 20_000
    mean, std = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 2.0, 1.0])
    inputs = torch.cat([mean, std.log()]).expand(n, -1)
    samples = Normal(inputs, Box((3,))).sample()
    # Standard errors: std/sqrt(n) <= 0.015 for the mean, ~std/sqrt(2n) for the std.
    torch.testing.assert_close(samples.mean(0), mean, atol=0.06, rtol=0)
    torch.testing.assert_close(samples.std(0), std, atol=0.0, rtol=0.03)


def test_normal_rsample_gradients_flow_to_the_inputs() -> None:
    inputs = _normal_inputs(8, Box((2, 3)), 4).requires_grad_()
    dist = Normal(inputs, Box((2, 3)))
    dist.rsample().square().sum().backward()
    assert inputs.grad is not None
    mean_grad, log_std_grad = inputs.grad.chunk(2, dim=-1)
    assert (mean_grad != 0).all()
    assert (log_std_grad != 0).all()


def test_normal_sample_has_no_gradient() -> None:
    inputs = torch.zeros(4, 2, requires_grad=True)
    assert not Normal(inputs, Box((1,))).sample().requires_grad
    assert Normal(inputs, Box((1,))).rsample().requires_grad
    assert Normal.has_rsample is True


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_normal_computes_in_float32(dtype: torch.dtype) -> None:
    spec = Box((3,))
    inputs = _normal_inputs(16, spec, 5).to(dtype)
    ours, ref = Normal(inputs, spec), _torch_normal(inputs)
    actions = torch.randn(16, 3)
    for got, want in ((ours.logp(actions), ref.log_prob(actions)), (ours.entropy(), ref.entropy())):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)
    assert ours.sample().dtype == torch.float32
    # Low-precision actions are read in float32 too.
    torch.testing.assert_close(ours.logp(actions.to(dtype)), ref.log_prob(actions.to(dtype).float()))


def test_normal_sizes_and_support() -> None:
    assert Normal.required_inputs(Box((2, 3))) == 12
    assert Normal.state_independent_inputs(Box((2, 3))) == 6
    assert Normal.supports(Box((2,)))
    assert Normal.supports(Box((2,), dtype=torch.float64))
    assert not Normal.supports(Box((2,), low=0, high=5, dtype=torch.int64))
    assert not Normal.supports(Discrete(3))
    with pytest.raises(TypeError, match="Normal needs a float Box action spec"):
        Normal.required_inputs(Discrete(3))
    with pytest.raises(TypeError, match="Normal needs a float Box action spec"):
        Normal(torch.zeros(1, 2), Discrete(2))
    with pytest.raises(TypeError, match="Normal got unknown options: squash"):
        Normal(torch.zeros(1, 2), Box((1,)), squash=True)
    with pytest.raises(TypeError, match="KL between Normal and Categorical"):
        Normal(torch.zeros(1, 2), Box((1,))).kl(Categorical(torch.zeros(1, 2), Discrete(2)))


# --- Both ------------------------------------------------------------------------------


def test_builtins_are_registered_under_their_names() -> None:
    registry = Registry()
    assert registry.get("distribution", "categorical") is Categorical
    assert registry.get("distribution", "normal") is Normal
    info = registry.info("distribution", "normal")
    assert info.distribution == "rl8-core"


@pytest.mark.parametrize(
    ("cls", "spec"), [(Categorical, Discrete(4, start=1)), (Normal, Box((2, 2)))], ids=["categorical", "normal"]
)
def test_distribution_contract(cls: type[Distribution], spec: Discrete | Box) -> None:
    """What ``RLModule`` and the catalog rely on: sizes from the class, ``[b]`` outputs."""
    a = cls.required_inputs(spec)
    assert 0 <= cls.state_independent_inputs(spec) <= a
    dist = cls(torch.zeros(5, a), spec)
    actions = dist.sample()
    spec.validate(actions, batch_shape=(5,))
    assert dist.logp(actions).shape == (5,)
    assert dist.entropy().shape == (5,)
    torch.testing.assert_close(dist.kl(cls(torch.zeros(5, a), spec)), torch.zeros(5))
