"""Test ``multi_categorical``, ``bernoulli``, ``squashed_normal``, ``composite`` and ``normal(bounds=...)``.

Each is compared with ``torch.distributions`` where an equivalent exists.
"""

# torch.distributions and Tensor.backward/split/unique carry no annotations.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from tensordict import TensorDict
from torch import distributions as td

from rl8_core import Distribution, Registry
from rl8_core.testing import check_distribution, example_action_specs, fresh_registry
from rl8_plugins.distributions import squashed_normal as squashed_normal_module
from rl8_plugins.distributions.bernoulli import Bernoulli
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.distributions.composite import CompositeDistribution
from rl8_plugins.distributions.multi_categorical import MultiCategorical
from rl8_plugins.distributions.normal import Normal
from rl8_plugins.distributions.squashed_normal import SquashedNormal
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec

BATCH_SIZES = [1, 7, 300]
FLOAT32_MIN = torch.finfo(torch.float32).min

MULTI_DISCRETE_SPECS = [
    MultiDiscrete([2, 3]),
    MultiDiscrete([4, 4, 4]),  # equal sizes: no padding
    MultiDiscrete([3, 5, 2], start=[1, -2, 0], dtype=torch.int32),
    MultiDiscrete([[2, 3], [1, 4]], start=[[0, 1], [5, 0]]),  # 2-d nvec, a component with one choice
]
MULTI_BINARY_SPECS = [
    MultiBinary(3),
    MultiBinary([2, 3]),
    MultiBinary(4, dtype=torch.int64),
    MultiBinary(2, dtype=torch.bool),
]
BOUNDED_BOXES = [
    Box((1,), -2.0, 2.0),
    Box((3,), low=[-1.0, 0.0, -5.0], high=[1.0, 10.0, 0.0]),
    Box((2, 2), -0.5, 1.5),
    Box((2,), low=0.1, high=0.3, dtype=torch.float64),  # bounds float32 does not hold exactly
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed)) * scale


def _gaussian_inputs(b: int, d: int, seed: int) -> torch.Tensor:
    g = _gen(seed)
    return torch.cat([torch.randn(b, d, generator=g), torch.randn(b, d, generator=g) * 0.5 - 0.5], dim=-1)


def _affine(spec: Box) -> tuple[torch.Tensor, torch.Tensor]:
    low, high = spec.low.flatten().float(), spec.high.flatten().float()
    return (low + high) / 2, (high - low) / 2


# --- multi_categorical ---------------------------------------------------------------------


def _torch_multi_categorical(logits: torch.Tensor, spec: MultiDiscrete) -> list[td.Categorical]:
    return [td.Categorical(logits=part) for part in logits.float().split(spec.nvec.flatten().tolist(), dim=-1)]


@pytest.mark.parametrize("spec", MULTI_DISCRETE_SPECS, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_multi_categorical_matches_independent_torch_categoricals(spec: MultiDiscrete, b: int) -> None:
    n = MultiCategorical.required_inputs(spec)
    logits, other_logits = _randn(b, n, seed=0, scale=2), _randn(b, n, seed=1, scale=2)
    ours, other = MultiCategorical(logits, spec), MultiCategorical(other_logits, spec)
    ref, ref_other = _torch_multi_categorical(logits, spec), _torch_multi_categorical(other_logits, spec)

    actions = spec.rand((b,), generator=_gen(2))
    index = (actions.long() - spec.start).reshape(b, -1)
    torch.testing.assert_close(ours.logp(actions), sum(c.log_prob(index[:, i]) for i, c in enumerate(ref)))
    torch.testing.assert_close(ours.entropy(), sum(c.entropy() for c in ref))
    torch.testing.assert_close(ours.kl(other), sum(td.kl_divergence(p, q) for p, q in zip(ref, ref_other, strict=True)))
    for out in (ours.logp(actions), ours.entropy(), ours.kl(other)):
        assert out.shape == (b,)
        assert out.dtype == torch.float32


@pytest.mark.parametrize("spec", MULTI_DISCRETE_SPECS, ids=repr)
def test_multi_categorical_samples_belong_to_the_spec(spec: MultiDiscrete) -> None:
    b = 300
    logits = _randn(b, MultiCategorical.required_inputs(spec), seed=3, scale=2)
    dist = MultiCategorical(logits, spec)
    for actions in (dist.sample(), dist.deterministic_sample()):
        assert actions.shape == (b, *spec.shape)
        assert actions.dtype == spec.dtype
        assert spec.contains(actions, batch_shape=(b,))
    modes = [part.argmax(-1) for part in logits.split(spec.nvec.flatten().tolist(), dim=-1)]
    expected = torch.stack(modes, -1).reshape(b, *spec.shape) + spec.start
    torch.testing.assert_close(dist.deterministic_sample(), expected.to(spec.dtype))


def test_multi_categorical_sample_frequencies_match_probs() -> None:
    torch.manual_seed(0)
    n = 20_000
    p0, p1 = torch.tensor([0.3, 0.7]), torch.tensor([0.1, 0.2, 0.3, 0.4])
    spec = MultiDiscrete([2, 4], start=[5, -1])
    actions = MultiCategorical(torch.cat([p0.log(), p1.log()]).expand(n, -1), spec).sample()
    # Binomial std at p=0.5 and n=20000 is ~0.0035; 0.02 is > 5 sigma.
    torch.testing.assert_close(torch.bincount(actions[:, 0] - 5, minlength=2).float() / n, p0, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.bincount(actions[:, 1] + 1, minlength=4).float() / n, p1, atol=0.02, rtol=0)
    # Components are independent: the joint frequency of (1, 3) is p0[1] * p1[3].
    joint = ((actions[:, 0] == 6) & (actions[:, 1] == 2)).float().mean()
    assert abs(float(joint) - 0.28) < 0.02


@pytest.mark.parametrize("mask", [-torch.inf, FLOAT32_MIN], ids=["-inf", "finfo.min"])
def test_multi_categorical_masked_choices_are_never_taken_and_keep_things_finite(mask: float) -> None:
    torch.manual_seed(0)
    spec = MultiDiscrete([3, 4], start=[1, 0])
    # Component 0: choice 1 masked; component 1: only choice 2 left (its masked choices would be the mode).
    row = torch.tensor([0.0, mask, 1.0, mask, mask, -5.0, mask])
    logits = row.expand(2000, -1).clone().requires_grad_()
    dist = MultiCategorical(logits, spec)
    actions = dist.sample()
    assert set(actions[:, 0].unique().tolist()) <= {1, 3}
    assert set(actions[:, 1].unique().tolist()) == {2}
    assert dist.deterministic_sample()[0].tolist() == [3, 2]
    entropy = dist.entropy()
    ref = td.Categorical(logits=torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(entropy[0], ref.entropy())  # the single-choice component adds nothing
    logp = dist.logp(actions)
    kl = dist.kl(MultiCategorical(torch.zeros(2000, 7), spec))
    for value in (entropy, logp, kl):
        assert torch.isfinite(value).all()
    (logp.sum() + entropy.sum()).backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()


def test_multi_categorical_a_zero_uniform_draw_cannot_pick_a_masked_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``u = 0`` gives ``-inf`` Gumbel noise unless clamped; a ``finfo.min`` mask would then win."""
    spec = MultiDiscrete([3])
    dist = MultiCategorical(torch.tensor([[FLOAT32_MIN, 0.0, FLOAT32_MIN]]), spec)
    monkeypatch.setattr(torch, "rand_like", torch.zeros_like)
    assert dist.sample().tolist() == [[1]]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_multi_categorical_computes_in_float32(dtype: torch.dtype) -> None:
    spec = MultiDiscrete([3, 2])
    logits = _randn(16, 5, seed=4).to(dtype)
    ours, ref = MultiCategorical(logits, spec), _torch_multi_categorical(logits, spec)
    actions = spec.rand((16,), generator=_gen(5))
    assert ours.raw_logits.dtype == torch.float32
    want_logp = ref[0].log_prob(actions[:, 0]) + ref[1].log_prob(actions[:, 1])
    for got, want in ((ours.logp(actions), want_logp), (ours.entropy(), ref[0].entropy() + ref[1].entropy())):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)
    assert ours.sample().dtype == torch.int64


def test_multi_categorical_gradients_flow_through_logp() -> None:
    logits = _randn(8, 7, seed=6).requires_grad_()
    dist = MultiCategorical(logits, MultiDiscrete([2, 5]))
    (dist.logp(dist.sample()).sum() + dist.entropy().sum()).backward()
    assert logits.grad is not None
    assert (logits.grad.abs().sum(0) > 0).all()  # every logit, none lost to padding


def test_multi_categorical_sizes_support_and_errors() -> None:
    assert MultiCategorical.required_inputs(MultiDiscrete([[2, 3], [1, 4]])) == 10
    assert MultiCategorical.state_independent_inputs(MultiDiscrete([2])) == 0
    assert MultiCategorical.supports(MultiDiscrete([2, 3]))
    assert not MultiCategorical.supports(Discrete(3))
    assert not MultiCategorical.has_rsample
    with pytest.raises(TypeError, match="MultiCategorical needs a MultiDiscrete action spec"):
        MultiCategorical.required_inputs(Discrete(3))
    with pytest.raises(TypeError, match="MultiCategorical needs a MultiDiscrete action spec"):
        MultiCategorical(torch.zeros(1, 3), Box((3,)))
    with pytest.raises(TypeError, match="MultiCategorical got unknown options: temperature"):
        MultiCategorical(torch.zeros(1, 5), MultiDiscrete([2, 3]), temperature=1.0)
    with pytest.raises(TypeError, match="KL between MultiCategorical and Categorical"):
        MultiCategorical(torch.zeros(1, 2), MultiDiscrete([2])).kl(Categorical(torch.zeros(1, 2), Discrete(2)))


# --- bernoulli -----------------------------------------------------------------------------


def _torch_bernoulli(logits: torch.Tensor) -> td.Independent:  # type: ignore[type-arg]
    return td.Independent(td.Bernoulli(logits=logits.float()), 1)


@pytest.mark.parametrize("spec", MULTI_BINARY_SPECS, ids=lambda s: f"{s!r}-{s.dtype}")
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_bernoulli_matches_torch(spec: MultiBinary, b: int) -> None:
    logits, other_logits = _randn(b, spec.numel, seed=0, scale=3), _randn(b, spec.numel, seed=1, scale=3)
    ours, other = Bernoulli(logits, spec), Bernoulli(other_logits, spec)
    ref, ref_other = _torch_bernoulli(logits), _torch_bernoulli(other_logits)

    actions = spec.rand((b,), generator=_gen(2))
    torch.testing.assert_close(ours.logp(actions), ref.log_prob(actions.reshape(b, -1).float()))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    torch.testing.assert_close(ours.kl(other), td.kl_divergence(ref, ref_other))
    for out in (ours.logp(actions), ours.entropy(), ours.kl(other)):
        assert out.shape == (b,)
        assert out.dtype == torch.float32


@pytest.mark.parametrize("spec", MULTI_BINARY_SPECS, ids=lambda s: f"{s!r}-{s.dtype}")
def test_bernoulli_samples_belong_to_the_spec(spec: MultiBinary) -> None:
    logits = _randn(50, spec.numel, seed=3, scale=2)
    dist = Bernoulli(logits, spec)
    for actions in (dist.sample(), dist.deterministic_sample()):
        assert actions.shape == (50, *spec.shape)
        assert actions.dtype == spec.dtype
        assert spec.contains(actions, batch_shape=(50,))
    torch.testing.assert_close(dist.deterministic_sample(), (logits > 0).reshape(50, *spec.shape).to(spec.dtype))


def test_bernoulli_sample_frequencies_match_probs() -> None:
    torch.manual_seed(0)
    n = 20_000
    probs = torch.tensor([0.05, 0.5, 0.8])
    actions = Bernoulli(torch.logit(probs).expand(n, -1), MultiBinary(3)).sample()
    assert actions.dtype == torch.int8
    torch.testing.assert_close(actions.float().mean(0), probs, atol=0.02, rtol=0)


def test_bernoulli_stays_finite_for_extreme_logits() -> None:
    logits = torch.tensor([[60.0, -60.0, 0.0]], requires_grad=True)
    dist = Bernoulli(logits, MultiBinary(3))
    actions = torch.tensor([[0, 1, 1]], dtype=torch.int8)  # the unlikely values
    values = [dist.logp(actions), dist.entropy(), dist.kl(Bernoulli(-logits.detach(), MultiBinary(3)))]
    assert all(torch.isfinite(v).all() for v in values)
    torch.testing.assert_close(values[0], torch.tensor([-120.0 - math.log(2)]))
    torch.stack(values).sum().backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_bernoulli_computes_in_float32(dtype: torch.dtype) -> None:
    logits = _randn(16, 4, seed=4, scale=2).to(dtype)
    ours, ref = Bernoulli(logits, MultiBinary(4)), _torch_bernoulli(logits)
    actions = MultiBinary(4).rand((16,), generator=_gen(5))
    for got, want in ((ours.logp(actions), ref.log_prob(actions.float())), (ours.entropy(), ref.entropy())):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)
    assert ours.sample().dtype == torch.int8


def test_bernoulli_sizes_support_and_errors() -> None:
    assert Bernoulli.required_inputs(MultiBinary([2, 3])) == 6
    assert Bernoulli.state_independent_inputs(MultiBinary(2)) == 0
    assert Bernoulli.supports(MultiBinary(2))
    assert not Bernoulli.supports(MultiDiscrete([2, 2]))
    with pytest.raises(TypeError, match="Bernoulli needs a MultiBinary action spec"):
        Bernoulli.required_inputs(Box((2,)))
    with pytest.raises(TypeError, match="Bernoulli needs a MultiBinary action spec"):
        Bernoulli(torch.zeros(1, 2), MultiDiscrete([2, 2]))
    with pytest.raises(TypeError, match="KL between Bernoulli and MultiCategorical"):
        Bernoulli(torch.zeros(1, 1), MultiBinary(1)).kl(MultiCategorical(torch.zeros(1, 2), MultiDiscrete([2])))


# --- normal with bounds="rescale" ------------------------------------------------------------


def _torch_rescaled_normal(inputs: torch.Tensor, spec: Box) -> td.TransformedDistribution:
    mean, log_std = inputs.float().chunk(2, dim=-1)
    center, half_range = _affine(spec)
    base = td.Independent(td.Normal(mean, log_std.exp()), 1)
    return td.TransformedDistribution(base, [td.AffineTransform(center, half_range, event_dim=1)])


@pytest.mark.parametrize("spec", BOUNDED_BOXES, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_normal_rescale_matches_an_affine_transformed_torch_normal(spec: Box, b: int) -> None:
    d = spec.numel
    inputs, other_inputs = _gaussian_inputs(b, d, 0), _gaussian_inputs(b, d, 1)
    ours, other = Normal(inputs, spec, bounds="rescale"), Normal(other_inputs, spec, bounds="rescale")
    ref, ref_other = _torch_rescaled_normal(inputs, spec), _torch_rescaled_normal(other_inputs, spec)

    actions = ref.sample()
    torch.testing.assert_close(ours.logp(actions.reshape(b, *spec.shape).to(spec.dtype)), ref.log_prob(actions))
    # Entropy and KL of an affine image: H + sum(log half_range), and the KL of the base distributions.
    half_range_log = _affine(spec)[1].log().sum()
    torch.testing.assert_close(ours.entropy(), ref.base_dist.entropy() + half_range_log)
    torch.testing.assert_close(ours.kl(other), td.kl_divergence(ref.base_dist, ref_other.base_dist))
    torch.testing.assert_close(ours.kl(other), Normal(inputs, spec).kl(Normal(other_inputs, spec)))
    center, half_range = _affine(spec)
    mode = (center + half_range * inputs[:, :d]).reshape(b, *spec.shape).to(spec.dtype)
    torch.testing.assert_close(ours.deterministic_sample(), mode)
    for actions in (ours.sample(), ours.rsample(), ours.deterministic_sample()):
        assert actions.shape == (b, *spec.shape)
        assert actions.dtype == spec.dtype


def test_normal_rescale_sample_moments() -> None:
    torch.manual_seed(0)
    n = 20_000
    spec = Box((2,), low=[0.0, -10.0], high=[4.0, 10.0])
    mean, std = torch.tensor([0.5, -0.2]), torch.tensor([0.2, 0.1])
    samples = Normal(torch.cat([mean, std.log()]).expand(n, -1), spec, bounds="rescale").sample()
    # Standard errors are below 0.01 for the mean and about 0.5% for the std.
    torch.testing.assert_close(samples.mean(0), torch.tensor([3.0, -2.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(samples.std(0), torch.tensor([0.4, 1.0]), atol=0.0, rtol=0.03)


def test_normal_rescale_rsample_gradients_and_clip_default() -> None:
    spec = Box((3,), -2.0, 2.0)
    inputs = _gaussian_inputs(8, 3, 2).requires_grad_()
    Normal(inputs, spec, bounds="rescale").rsample().square().sum().backward()
    assert inputs.grad is not None
    assert (inputs.grad != 0).all()
    plain = _gaussian_inputs(8, 3, 2)
    assert Normal(plain, spec).bounds == "clip"
    torch.testing.assert_close(Normal(plain, spec).deterministic_sample(), plain[:, :3])


def test_normal_bounds_errors() -> None:
    with pytest.raises(ValueError, match=r"bounds='rescale' needs a Box with finite bounds and high > low"):
        Normal(torch.zeros(1, 4), Box((2,)), bounds="rescale")
    with pytest.raises(ValueError, match=r"bounds='rescale' needs a Box with finite bounds"):
        Normal.required_inputs(Box((2,), low=0.0), bounds="rescale")
    with pytest.raises(ValueError, match="high > low"):
        Normal(torch.zeros(1, 4), Box((2,), low=[0.0, 1.0], high=[1.0, 1.0]), bounds="rescale")
    with pytest.raises(ValueError, match="bounds must be one of 'clip', 'rescale', got 'squash'"):
        Normal(torch.zeros(1, 2), Box((1,), -1.0, 1.0), bounds="squash")  # type: ignore[arg-type]
    assert Normal.required_inputs(Box((2,), -1.0, 1.0), bounds="rescale") == 4
    assert Normal.state_independent_inputs(Box((2,), -1.0, 1.0), bounds="rescale") == 2
    spec = Box((1,), -1.0, 1.0)
    with pytest.raises(ValueError, match="KL between Normals with bounds='rescale' and 'clip'"):
        Normal(torch.zeros(1, 2), spec, bounds="rescale").kl(Normal(torch.zeros(1, 2), spec))


# --- squashed_normal -----------------------------------------------------------------------


def _torch_squashed_normal(inputs: torch.Tensor, spec: Box) -> td.TransformedDistribution:
    mean, log_std = inputs.float().chunk(2, dim=-1)
    center, half_range = _affine(spec)
    base = td.Independent(td.Normal(mean, log_std.exp()), 1)
    return td.TransformedDistribution(base, [td.TanhTransform(), td.AffineTransform(center, half_range, event_dim=1)])


@pytest.mark.parametrize("spec", BOUNDED_BOXES, ids=repr)
@pytest.mark.parametrize("b", BATCH_SIZES)
def test_squashed_normal_logp_matches_torch_tanh_affine_transform(spec: Box, b: int) -> None:
    d = spec.numel
    inputs, other_inputs = _gaussian_inputs(b, d, 0), _gaussian_inputs(b, d, 1)
    ours, other = SquashedNormal(inputs, spec), SquashedNormal(other_inputs, spec)
    ref, ref_other = _torch_squashed_normal(inputs, spec), _torch_squashed_normal(other_inputs, spec)

    # Pre-squash values of moderate size, so that the actions are not within EPS of a bound.
    u = ref.base_dist.sample().clamp(-3.0, 3.0)
    actions = _affine(spec)[0] + _affine(spec)[1] * torch.tanh(u)
    torch.testing.assert_close(
        ours.logp(actions.reshape(b, *spec.shape).to(spec.dtype)), ref.log_prob(actions), rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(ours.kl(other), td.kl_divergence(ref.base_dist, ref_other.base_dist))
    center, half_range = _affine(spec)
    mode = (center + half_range * torch.tanh(inputs[:, :d])).reshape(b, *spec.shape).to(spec.dtype)
    torch.testing.assert_close(ours.deterministic_sample(), mode)
    for out in (ours.logp(ours.sample()), ours.entropy(), ours.kl(other)):
        assert out.shape == (b,)
        assert out.dtype == torch.float32


@pytest.mark.parametrize("spec", BOUNDED_BOXES, ids=repr)
def test_squashed_normal_samples_stay_inside_the_bounds(spec: Box) -> None:
    b, d = 200, spec.numel
    # Means up to +-50 saturate tanh to exactly +-1 in float32: actions land on the bounds.
    inputs = torch.cat([_randn(b, d, seed=7, scale=20), torch.zeros(b, d)], dim=-1)
    dist = SquashedNormal(inputs, spec)
    for actions in (dist.sample(), dist.rsample(), dist.deterministic_sample(), dist.rsample_and_logp()[0]):
        assert actions.shape == (b, *spec.shape)
        assert actions.dtype == spec.dtype
        assert spec.contains(actions, batch_shape=(b,))  # the real bounds, not relaxed
    assert torch.isfinite(dist.logp(dist.sample())).all()
    assert torch.isfinite(dist.logp(spec.low.expand(b, *spec.shape).to(spec.dtype))).all()


def test_squashed_normal_rsample_and_logp_agrees_with_logp() -> None:
    torch.manual_seed(0)
    spec = Box((3,), low=[-1.0, 0.0, 2.0], high=[1.0, 5.0, 3.0])
    dist = SquashedNormal(_gaussian_inputs(64, 3, 8), spec)
    actions, logp = dist.rsample_and_logp()
    torch.testing.assert_close(dist.logp(actions), logp, rtol=1e-3, atol=1e-3)


def test_squashed_normal_entropy_matches_a_monte_carlo_estimate() -> None:
    torch.manual_seed(0)
    spec = Box((2,), low=[-1.0, 0.0], high=[1.0, 4.0])
    # Rows: narrow, unit, on a slope of tanh, and wide (std e^1.5 and e^2.5, past the quadrature switch).
    params = torch.tensor(
        [
            [0.0, 0.0, -3.0, -2.0],
            [0.0, 0.5, 0.0, 0.0],
            [1.5, -2.0, -0.5, 0.3],
            [0.5, -1.0, 1.5, 2.5],
        ]
    )
    n = 100_000
    dist = SquashedNormal(params.repeat_interleave(n, 0), spec)
    monte_carlo = -dist.rsample_and_logp()[1].reshape(4, n).mean(1)
    # The std of -logp is at most ~2.5 here: a standard error below 0.01.
    torch.testing.assert_close(SquashedNormal(params, spec).entropy(), monte_carlo, atol=0.04, rtol=0)


def test_squashed_normal_expected_log_jacobian_is_accurate() -> None:
    """``E[log(1 - tanh(u)^2)]`` by quadrature (std <= 2) or expansion (std > 2) against a fine trapezoid rule."""
    mean, std = torch.meshgrid(
        torch.tensor([0.0, 0.7, -2.0, 6.0]), torch.tensor([1e-3, 0.3, 1.0, 1.9, 2.0, 2.1, 4.0, 20.0]), indexing="ij"
    )
    z = torch.linspace(-12, 12, 40_001, dtype=torch.float64)
    density = torch.exp(-0.5 * z.square()) / math.sqrt(2 * math.pi)
    u = mean.double().unsqueeze(-1) + std.double().unsqueeze(-1) * z
    exact = torch.trapezoid(squashed_normal_module._log_dtanh(u) * density, z).float()
    got = squashed_normal_module._expected_log_dtanh(mean, std)
    torch.testing.assert_close(got, exact, atol=2e-3, rtol=0)


def test_squashed_normal_gradients_are_finite_on_both_sides_of_the_switch() -> None:
    spec = Box((4,), -1.0, 1.0)
    inputs = torch.tensor([[0.0, 3.0, -40.0, 1.0, -20.0, 0.0, 0.7, 5.0]], requires_grad=True)
    dist = SquashedNormal(inputs, spec)
    (dist.entropy().sum() + dist.logp(dist.sample()).sum() + dist.rsample().sum()).backward()
    assert inputs.grad is not None
    assert torch.isfinite(inputs.grad).all()
    _, log_std_grad = inputs.grad.chunk(2, dim=-1)
    assert (log_std_grad[0, [1, 3]] != 0).all()  # std 1 and e^5: entropy depends on the std in both regimes


def test_squashed_normal_rsample_gradients_flow_and_sample_has_none() -> None:
    spec = Box((2, 3), -2.0, 2.0)
    inputs = _gaussian_inputs(8, 6, 4).requires_grad_()
    dist = SquashedNormal(inputs, spec)
    assert not dist.sample().requires_grad
    dist.rsample().square().sum().backward()
    assert inputs.grad is not None
    assert (inputs.grad != 0).all()
    assert SquashedNormal.has_rsample


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_squashed_normal_computes_in_float32(dtype: torch.dtype) -> None:
    spec = Box((3,), -1.0, 1.0)
    inputs = _gaussian_inputs(16, 3, 5).to(dtype)
    ours, ref = SquashedNormal(inputs, spec), _torch_squashed_normal(inputs.float(), spec)
    actions = torch.tanh(_randn(16, 3, seed=6))
    torch.testing.assert_close(ours.logp(actions), ref.log_prob(actions), rtol=1e-4, atol=1e-4)
    assert ours.entropy().dtype == torch.float32
    assert ours.sample().dtype == torch.float32


def test_squashed_normal_sizes_support_and_errors() -> None:
    assert SquashedNormal.required_inputs(Box((2, 3), -1.0, 1.0)) == 12
    assert SquashedNormal.state_independent_inputs(Box((2, 3), -1.0, 1.0)) == 6
    assert SquashedNormal.supports(Box((2,), -1.0, 1.0))
    assert not SquashedNormal.supports(Box((2,)))
    assert not SquashedNormal.supports(Box((2,), low=0, high=5, dtype=torch.int64))
    assert not SquashedNormal.supports(Discrete(3))
    with pytest.raises(ValueError, match="SquashedNormal needs a Box with finite bounds and high > low"):
        SquashedNormal.required_inputs(Box((2,), low=-1.0))
    with pytest.raises(ValueError, match="SquashedNormal needs a Box with finite bounds and high > low"):
        SquashedNormal(torch.zeros(1, 2), Box((1,), 1.0, 1.0))
    with pytest.raises(TypeError, match="SquashedNormal needs a float Box action spec"):
        SquashedNormal(torch.zeros(1, 2), Discrete(2))
    with pytest.raises(TypeError, match="KL between SquashedNormal and Normal"):
        SquashedNormal(torch.zeros(1, 2), Box((1,), -1.0, 1.0)).kl(Normal(torch.zeros(1, 2), Box((1,))))


# --- composite -------------------------------------------------------------------------------


def _mixed_spec(*, relaxed: bool = False) -> Composite:
    """A nested Dict holding a Tuple, with every leaf kind.

    ``relaxed``: without the bounds of the ``speed`` leaf, whose Gaussian (``normal``
    with ``bounds="rescale"``) samples outside them; the env boundary clips.
    """
    return Composite(
        {
            "arm": {"move": Box((2,), -1.0, 1.0), "grip": MultiBinary(2)},
            "mode": Discrete(3, start=1),
            "team": Composite.from_tuple([MultiDiscrete([2, 3]), Box((2, 2))]),
            "speed": Box((1,)) if relaxed else Box((1,), 0.0, 5.0),
        }
    )


MIXED_LEAVES: dict[str, tuple[type[Distribution], dict[str, Any]]] = {
    "arm.move": (SquashedNormal, {}),
    "arm.grip": (Bernoulli, {}),
    "mode": (Categorical, {}),
    "team.0": (MultiCategorical, {}),
    "team.1": (Normal, {}),
    "speed": (Normal, {"bounds": "rescale"}),
}


def _leaf_inputs(inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split inputs by the documented layout: the leaves' dependent parts in leaf order, then their log-stds."""
    m, g, c, t0, t1, s, m_std, t1_std, s_std = inputs.split([2, 2, 3, 5, 4, 1, 2, 4, 1], dim=-1)
    return {
        "arm.move": torch.cat([m, m_std], -1),
        "arm.grip": g,
        "mode": c,
        "team.0": t0,
        "team.1": torch.cat([t1, t1_std], -1),
        "speed": torch.cat([s, s_std], -1),
    }


def _leaf_dists(inputs: torch.Tensor, spec: Composite) -> dict[str, Distribution]:
    parts = _leaf_inputs(inputs)
    return {name: cls(parts[name], spec[tuple(name.split("."))], **opts) for name, (cls, opts) in MIXED_LEAVES.items()}


def test_composite_sizes_follow_the_leaves() -> None:
    spec = _mixed_spec()
    # 4 + 2 + 3 + 5 + 8 + 2 inputs, of which 2 + 4 + 1 log-stds.
    assert CompositeDistribution.required_inputs(spec, leaves=MIXED_LEAVES) == 24
    assert CompositeDistribution.state_independent_inputs(spec, leaves=MIXED_LEAVES) == 7
    assert CompositeDistribution.takes_leaf_dists
    assert not Distribution.takes_leaf_dists
    assert not any(cls.takes_leaf_dists for cls in (Categorical, Normal, MultiCategorical, Bernoulli, SquashedNormal))


@pytest.mark.parametrize("b", BATCH_SIZES)
def test_composite_is_the_sum_of_its_leaves(b: int) -> None:
    spec = _mixed_spec()
    inputs, other_inputs = _randn(b, 24, seed=0), _randn(b, 24, seed=1)
    ours = CompositeDistribution(inputs, spec, leaves=MIXED_LEAVES)
    other = CompositeDistribution(other_inputs, spec, leaves=MIXED_LEAVES)
    leaves, other_leaves = _leaf_dists(inputs, spec), _leaf_dists(other_inputs, spec)

    actions = ours.sample()
    assert isinstance(actions, TensorDict)
    assert actions.batch_size == (b,)
    assert _mixed_spec(relaxed=True).contains(actions, batch_shape=(b,))
    assert set(actions.keys(include_nested=True, leaves_only=True)) == {
        ("arm", "move"),
        ("arm", "grip"),
        "mode",
        ("team", "0"),
        ("team", "1"),
        "speed",
    }
    leaf_actions = {name: actions.get(tuple(name.split("."))) for name in MIXED_LEAVES}
    torch.testing.assert_close(ours.logp(actions), sum(d.logp(leaf_actions[n]) for n, d in leaves.items()))
    torch.testing.assert_close(ours.entropy(), sum(d.entropy() for d in leaves.values()))
    torch.testing.assert_close(ours.kl(other), sum(d.kl(other_leaves[n]) for n, d in leaves.items()))
    mode = ours.deterministic_sample()
    assert _mixed_spec(relaxed=True).contains(mode, batch_shape=(b,))
    for name, dist in leaves.items():
        torch.testing.assert_close(mode.get(tuple(name.split("."))), dist.deterministic_sample())
    for out in (ours.logp(actions), ours.entropy(), ours.kl(other)):
        assert out.shape == (b,)
        assert out.dtype == torch.float32


def test_composite_without_state_independent_inputs_is_the_plain_concatenation() -> None:
    spec = Composite.from_tuple([Discrete(2), Composite({"flags": MultiBinary(3)})])
    leaves: dict[str, tuple[type[Distribution], dict[str, Any]]] = {"0": (Categorical, {}), "1.flags": (Bernoulli, {})}
    inputs = _randn(5, 5, seed=2)
    dist = CompositeDistribution(inputs, spec, leaves=leaves)
    actions = spec.rand((5,), generator=_gen(3))
    want = Categorical(inputs[:, :2], Discrete(2)).logp(actions["0"])
    want = want + Bernoulli(inputs[:, 2:], MultiBinary(3)).logp(actions["1", "flags"])
    torch.testing.assert_close(dist.logp(actions), want)
    assert spec.contains(dist.sample(), batch_shape=(5,))


def test_composite_rsample_needs_every_leaf_to_have_one() -> None:
    spec = Composite({"a": Box((2,), -1.0, 1.0), "b": {"c": Box((1,))}})
    leaves: dict[str, tuple[type[Distribution], dict[str, Any]]] = {"a": (SquashedNormal, {}), "b.c": (Normal, {})}
    inputs = _randn(4, 6, seed=4).requires_grad_()
    torch.manual_seed(0)  # the reparameterisation noise
    actions = CompositeDistribution(inputs, spec, leaves=leaves).rsample()
    assert spec.contains(actions.detach(), batch_shape=(4,))
    (actions["a"].sum() + actions["b", "c"].sum()).backward()
    assert inputs.grad is not None
    # Every input (both leaves' means and scales) gets a gradient; a single entry can
    # be exactly 0 where tanh saturates, so look for one nonzero per input column.
    assert (inputs.grad != 0).any(0).all()
    with pytest.raises(
        NotImplementedError, match=r"no reparameterised sample for leaves \['arm.grip', 'mode', 'team.0'\]"
    ):
        CompositeDistribution(_randn(2, 24, seed=0), _mixed_spec(), leaves=MIXED_LEAVES).rsample()


def test_composite_computes_in_float32_from_bf16() -> None:
    spec = _mixed_spec()
    inputs = _randn(6, 24, seed=5).to(torch.bfloat16)
    ours = CompositeDistribution(inputs, spec, leaves=MIXED_LEAVES)
    ref = CompositeDistribution(inputs.float(), spec, leaves=MIXED_LEAVES)
    actions = ours.sample()
    assert _mixed_spec(relaxed=True).contains(actions, batch_shape=(6,))
    for got, want in ((ours.logp(actions), ref.logp(actions)), (ours.entropy(), ref.entropy())):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)


def test_composite_errors_name_the_problem() -> None:
    spec = _mixed_spec()
    with pytest.raises(TypeError, match=r"needs the option leaves: a mapping from each dotted leaf path \(arm.move, "):
        CompositeDistribution.required_inputs(spec)
    with pytest.raises(TypeError, match="CompositeDistribution needs a Composite action spec"):
        CompositeDistribution(torch.zeros(1, 2), Discrete(2), leaves={})
    partial = {k: v for k, v in MIXED_LEAVES.items() if k != "mode"} | {"arm.fire": (Categorical, {})}
    with pytest.raises(ValueError, match=r"missing \['mode'\], unknown \['arm.fire'\]"):
        CompositeDistribution.required_inputs(spec, leaves=partial)
    with pytest.raises(ValueError, match=r"leaves\['mode'\]: Normal does not support the leaf's spec Discrete"):
        CompositeDistribution.required_inputs(spec, leaves=MIXED_LEAVES | {"mode": (Normal, {})})
    with pytest.raises(TypeError, match=r"leaves\['mode'\] must be a \(Distribution class, options\) pair"):
        CompositeDistribution.required_inputs(spec, leaves=MIXED_LEAVES | {"mode": Categorical})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"leaves\['mode'\] must start with a Distribution subclass"):
        CompositeDistribution.required_inputs(spec, leaves=MIXED_LEAVES | {"mode": ("categorical", {})})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"leaves\['speed'\]: Normal option bounds must be one of"):
        CompositeDistribution.required_inputs(spec, leaves=MIXED_LEAVES | {"speed": (Normal, {"bounds": "wrap"})})
    dist = CompositeDistribution(torch.zeros(1, 24), spec, leaves=MIXED_LEAVES)
    with pytest.raises(TypeError, match=r"CompositeDistribution\.logp needs a TensorDict of actions"):
        dist.logp(torch.zeros(1, 3))
    with pytest.raises(TypeError, match="KL between CompositeDistribution and Categorical"):
        dist.kl(Categorical(torch.zeros(1, 2), Discrete(2)))
    with pytest.raises(TypeError, match="CompositeDistribution got unknown options: scale"):
        CompositeDistribution(torch.zeros(1, 24), spec, leaves=MIXED_LEAVES, scale=2.0)


# --- all -------------------------------------------------------------------------------------


def test_new_builtins_are_registered_under_their_names() -> None:
    registry = Registry()
    expected = {
        "multi_categorical": (MultiCategorical, "multi_categorical"),
        "bernoulli": (Bernoulli, "bernoulli"),
        "squashed_normal": (SquashedNormal, "squashed_normal"),
        "composite": (CompositeDistribution, "composite_distribution"),
    }
    for name, (cls, plugin) in expected.items():
        assert registry.get("distribution", name) is cls
        info = registry.info("distribution", name)
        assert (info.plugin, info.distribution) == (plugin, "rl8-core")


def test_check_distribution_contract_multi_categorical() -> None:
    specs = {
        "default": MultiDiscrete([2, 3]),
        "2-d with start": MULTI_DISCRETE_SPECS[3],
        "int32": MULTI_DISCRETE_SPECS[2],
    }
    assert check_distribution(MultiCategorical, specs) == list(specs.values())


def test_check_distribution_contract_bernoulli() -> None:
    assert len(check_distribution(Bernoulli, MULTI_BINARY_SPECS)) == len(MULTI_BINARY_SPECS)


def test_check_distribution_contract_squashed_normal() -> None:
    assert check_distribution(SquashedNormal, [*BOUNDED_BOXES, Box((2,)), Discrete(2)]) == BOUNDED_BOXES


def test_check_distribution_contract_normal_rescale() -> None:
    assert check_distribution(Normal, [*BOUNDED_BOXES, Box((2,))], bounds="rescale") == BOUNDED_BOXES


def test_check_distribution_contract_composite() -> None:
    specs: list[Spec] = [_mixed_spec()]
    assert check_distribution(CompositeDistribution, specs, leaves=MIXED_LEAVES) == specs


def test_check_distribution_builds_leaves_for_composites() -> None:
    """Without ``leaves``, the check resolves one registered distribution per leaf, or uses ``leaf_dists``."""
    assert check_distribution(CompositeDistribution) == [example_action_specs()["composite"]]
    spec = Composite({"a": Box((2,), -1.0, 1.0), "b": {"c": MultiBinary(2)}})
    chosen: list[Spec] = []

    def squash_boxes(leaf: Spec) -> tuple[type[Distribution], dict[str, Any]]:
        chosen.append(leaf)
        return (SquashedNormal, {}) if isinstance(leaf, Box) else (Bernoulli, {})

    assert check_distribution(CompositeDistribution, [spec], leaf_dists=squash_boxes) == [spec]
    assert chosen == [spec["a"], spec["b", "c"]]
    with fresh_registry(), pytest.raises(AssertionError, match="no registered distribution supports the leaf"):
        check_distribution(CompositeDistribution, [spec])
