"""Contract suites over every registered component, and ``rl8_core.testing`` itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from rl8_core import (
    Distribution,
    Encoder,
    FlattenObs,
    PluginError,
    Registry,
    UnknownComponentError,
    get_registry,
    hookimpl,
)
from rl8_core.testing import (
    check_algorithm,
    check_distribution,
    check_encoder,
    check_env,
    example_action_specs,
    example_observation_specs,
    fresh_registry,
)
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.distributions.normal import Normal
from specs import Box, Composite, Discrete, MultiBinary, Spec

# Collected from a registry of its own: the global one is reset around every test.
_DEFAULT = Registry()
ENCODERS = _DEFAULT.names("encoder")
DISTRIBUTIONS = _DEFAULT.names("distribution")
ENVS = _DEFAULT.names("env")
ALGORITHMS = _DEFAULT.names("algorithm")
#: Options an env needs to be built at all (``gymnasium`` wraps a gymnasium id).
ENV_CONFIGS: dict[str, dict[str, Any]] = {
    "gymnasium": {"id": "CartPole-v1"},
    "pettingzoo": {"env": "mpe2.simple_spread_v3", "continuous_actions": False},
}


def test_the_builtins_are_covered() -> None:
    assert "mlp" in ENCODERS
    assert {"categorical", "normal"} <= set(DISTRIBUTIONS)
    assert {"cartpole", "pendulum", "pixels", "gymnasium"} <= set(ENVS)
    assert "ppo" in ALGORITHMS


@pytest.mark.parametrize("name", ENCODERS)
def test_registered_encoder_keeps_the_contract(name: str) -> None:
    assert check_encoder(get_registry().get("encoder", name))


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_registered_distribution_keeps_the_contract(name: str) -> None:
    assert check_distribution(get_registry().get("distribution", name))


@pytest.mark.parametrize("name", ENVS)
def test_registered_env_keeps_the_contract(name: str) -> None:
    assert check_env(get_registry().get("env", name), **ENV_CONFIGS.get(name, {})) > 0


@pytest.mark.parametrize("name", ALGORITHMS)
def test_registered_algorithm_keeps_the_contract(name: str) -> None:
    metrics = check_algorithm(get_registry().get("algorithm", name))
    assert metrics
    assert all(key.count("/") >= 1 for key in metrics)


def test_the_builtins_accept_the_specs_their_catalog_rules_give_them() -> None:
    leaves = [label for label in example_observation_specs() if "composite" not in label]
    obs = example_observation_specs()
    assert check_encoder(get_registry().get("encoder", "mlp")) == [obs[label] for label in leaves]
    assert check_encoder(get_registry().get("encoder", "mlp"), hiddens=(8,), activation="relu")
    actions = example_action_specs()
    assert check_distribution(Categorical) == [actions["discrete"], actions["discrete_start"]]
    assert check_distribution(Normal) == [actions["box_vector"], actions["box_bounded"], actions["box_matrix"]]


def test_an_installed_third_party_plugin_passes_the_same_checks(plugin_site: Callable[..., Any]) -> None:
    plugin_site("acme")
    registry = Registry()
    mine = [c for kind in ("encoder", "distribution") for c in registry.components(kind)]
    mine = [c for c in mine if c.distribution == "acme-rl8"]
    assert {c.name for c in mine} == {"acme_flat_tanh", "acme_tempered_categorical"}
    box_obs = [s for s in example_observation_specs().values() if isinstance(s, Box)]
    assert check_encoder(registry.get("encoder", "acme_flat_tanh"), width=4) == box_obs
    dist = registry.get("distribution", "acme_tempered_categorical")
    assert check_distribution(dist, temperature=0.5) == [Discrete(4), Discrete(3, start=1)]


# --- fresh_registry ---------------------------------------------------------------------


class Flat(Encoder):
    """Flatten any leaf observation (one-hot for discrete ones)."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.flatten = FlattenObs(observation_spec)
        self.output_dim = self.flatten.output_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.flatten(obs)


class AcmePlugin:
    @hookimpl
    def rl8_encoders(self) -> dict[str, type[Encoder]]:
        return {"acme_flat": Flat}


def test_fresh_registry_installs_and_restores() -> None:
    outer = get_registry()
    with fresh_registry(plugins=[AcmePlugin()]) as registry:
        assert get_registry() is registry is not outer
        assert registry.get("encoder", "acme_flat") is Flat
        assert registry.names("distribution") == []  # no entry-point scan
        with pytest.raises(UnknownComponentError):
            registry.get("encoder", "mlp")
    assert get_registry() is outer
    assert "acme_flat" not in outer.names("encoder")


def test_fresh_registry_restores_after_an_error_and_can_scan_entry_points() -> None:
    outer = get_registry()
    seen: list[list[str]] = []

    def use() -> None:
        with fresh_registry(entry_points=True) as registry:
            seen.append(registry.names("encoder"))
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        use()
    assert "mlp" in seen[0]
    assert get_registry() is outer


def test_fresh_registry_raises_when_a_given_plugin_fails() -> None:
    class Broken:
        @hookimpl
        def rl8_encoders(self) -> list[str]:
            return ["acme_flat"]

    outer = get_registry()
    with (
        pytest.raises(PluginError, match="failed to register: rl8_encoders must return a mapping"),
        fresh_registry(plugins=[Broken()]),
    ):
        pass  # pragma: no cover
    assert get_registry() is outer


# --- check_encoder catches broken encoders --------------------------------------------------


class Linear(Encoder):
    """A correct Box encoder that the broken ones below derive from."""

    def __init__(self, observation_spec: Spec, *, width: int = 3) -> None:
        if not isinstance(observation_spec, Box):
            raise TypeError("Box only")
        super().__init__(observation_spec)
        self.output_dim = width
        self.proj = nn.Linear(observation_spec.numel, width)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.proj(obs.flatten(1).float())


class WrongDim(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(obs)[:, :1]


class IntegerOut(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(obs).long()


class NotFinite(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(obs) / 0.0


class MixesBatch(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = super().forward(obs)
        return out - out.mean(0, keepdim=True)


class MixesInEval(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = super().forward(obs)
        return out if self.training else out - out.mean(0, keepdim=True)


class InPlace(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        obs.mul_(2.0)
        return super().forward(obs)


class Detached(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(obs).detach()


class NoOutputDim(Linear):
    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        del self.output_dim


class Crashes(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


class BatchNormed(Linear):
    """Mixes rows in train mode only: BatchNorm normalises with the batch's statistics."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.norm = nn.BatchNorm1d(self.output_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out: torch.Tensor = self.norm(super().forward(obs))
        return out


class Float64(Linear):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(obs).double()


class Dropped(Linear):
    """Correct: dropout is random in train mode, but it does not mix rows."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.drop = nn.Dropout(0.5)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out: torch.Tensor = self.drop(super().forward(obs))
        return out


@pytest.mark.parametrize(
    ("encoder", "message"),
    [
        (WrongDim, "features have shape [4, 1], expected [4, 3]"),
        (IntegerOut, "features have dtype torch.int64, expected torch.float32"),
        (NotFinite, "features are not all finite"),
        (MixesBatch, "in train mode, row 0 of the features changes when the other rows of the batch change"),
        (MixesInEval, "row 0 of a batch differs from the same observation alone"),
        (InPlace, "forward changed its input observations in place"),
        (Detached, "the output does not require grad"),
        (NoOutputDim, "output_dim must be a positive int, got None"),
        (Crashes, "forward raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
        (BatchNormed, "in train mode, row 0 of the features changes when the other rows of the batch change"),
        (Float64, "features have dtype torch.float64, expected torch.float32"),
        (lambda spec: nn.Linear(2, 2), "built a Linear, not an Encoder"),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", "factory"),
)
def test_check_encoder_catches(encoder: Callable[..., Any], message: str) -> None:
    with pytest.raises(AssertionError) as excinfo:
        check_encoder(encoder, {"box_vector": Box((4,))})
    name = getattr(encoder, "__qualname__", "")
    assert f"on box_vector: {message}" in str(excinfo.value)
    if isinstance(encoder, type):
        assert f"encoder {name} on box_vector" in str(excinfo.value)


def test_check_encoder_accepts_a_correct_one_and_factories() -> None:
    assert check_encoder(Linear, [Box((2,)), Discrete(3)], width=5) == [Box((2,))]
    assert check_encoder(lambda spec: Linear(spec, width=2), [Box((2,))]) == [Box((2,))]
    assert len(check_encoder(Flat)) == 8
    assert check_encoder(Dropped, [Box((4,))]) == [Box((4,))]


def test_check_encoder_fails_when_it_accepts_no_spec() -> None:
    with pytest.raises(AssertionError, match=r"encoder Linear accepted none of the specs: Discrete\(3\): TypeError"):
        check_encoder(Linear, [Discrete(3), MultiBinary(2)])


def test_check_encoder_restores_the_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_encoder(Linear, [Box((2,))])
    assert torch.equal(torch.rand(3), expected)


# --- check_distribution catches broken distributions ------------------------------------------


class LogpWrongShape(Categorical):
    def logp(self, actions: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().logp(actions).unsqueeze(-1)


class SampleOutside(Categorical):
    def sample(self) -> torch.Tensor:
        return super().sample() + 10


class FloatActions(Categorical):
    def deterministic_sample(self) -> torch.Tensor:
        return super().deterministic_sample().float()


class RandomMode(Categorical):
    def deterministic_sample(self) -> torch.Tensor:
        return self.sample()


class KlNotZero(Categorical):
    def kl(self, other: Distribution) -> torch.Tensor:
        return super().kl(other) + 1.0


class NegativeKl(Categorical):
    def kl(self, other: Distribution) -> torch.Tensor:
        return -super().kl(other)


class DetachedLogp(Categorical):
    def logp(self, actions: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().logp(actions).detach()


class ForgetsTheLogStds(Normal):
    """States one input per action element but consumes two (means and log-stds)."""

    @classmethod
    def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
        return super().required_inputs(action_spec) // 2


class BadFreeInputs(Categorical):
    @classmethod
    def state_independent_inputs(cls, action_spec: Spec, **config: Any) -> int:
        return 99


class MixesBatchDist(Normal):
    def entropy(self) -> torch.Tensor:
        return super().entropy() + self.mean.mean()


class FakeRsample(Normal):
    def rsample(self) -> torch.Tensor:
        return super().rsample().detach()


@pytest.mark.parametrize(
    ("dist_cls", "spec", "message"),
    [
        (LogpWrongShape, Discrete(3), "logp(sample()) has shape [4, 1], expected [b]"),
        (SampleOutside, Discrete(3), "sample() does not belong to the action spec"),
        (FloatActions, Discrete(3), "deterministic_sample() does not belong to the action spec"),
        (RandomMode, Discrete(30), "deterministic_sample() is not deterministic"),
        (KlNotZero, Discrete(3), "kl with itself is not ~0"),
        (NegativeKl, Discrete(3), "kl with another distribution is negative"),
        (DetachedLogp, Discrete(3), "logp is not differentiable in action_dist_inputs"),
        (ForgetsTheLogStds, Box((2,)), "sample() raised RuntimeError"),
        (BadFreeInputs, Discrete(3), "state_independent_inputs gave 99, not an int in [0, 3]"),
        (MixesBatchDist, Box((2,)), "entropy of row 0 differs from a batch of one"),
        (FakeRsample, Box((2,)), "has_rsample is set but rsample() is not differentiable"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_check_distribution_catches(dist_cls: type[Distribution], spec: Spec, message: str) -> None:
    with pytest.raises(AssertionError) as excinfo:
        check_distribution(dist_cls, [spec])
    assert message in str(excinfo.value)
    assert f"distribution {dist_cls.__qualname__} on {spec!r}" in str(excinfo.value)


def test_check_distribution_ignores_float_box_bounds_but_not_shapes() -> None:
    bounded = Box((3,), low=-0.01, high=0.01)
    assert check_distribution(Normal, [bounded]) == [bounded]  # samples fall outside; the runner clips


def test_check_distribution_handles_composite_actions_with_a_tensordict_sample() -> None:
    class Fire(Distribution):
        """Independent Bernoulli ``fire`` and a Gaussian ``move``: a composite action."""

        @classmethod
        def required_inputs(cls, action_spec: Spec, **config: Any) -> int:
            if not isinstance(action_spec, Composite) or sorted(action_spec.keys()) != ["fire", "move"]:
                raise TypeError("needs Composite(move=Box((2,)), fire=Discrete(2))")
            return 3

        def __init__(self, inputs: torch.Tensor, action_spec: Spec) -> None:
            super().__init__(inputs, action_spec)
            self.move = Normal(torch.cat([inputs[:, :2], torch.zeros_like(inputs[:, :2])], -1), Box((2,)))
            self.fire = torch.distributions.Bernoulli(logits=inputs[:, 2])

        def _td(self, move: torch.Tensor, fire: torch.Tensor) -> Any:
            from tensordict import TensorDict

            return TensorDict({"move": move, "fire": fire.long()}, batch_size=move.shape[:1])

        def sample(self) -> Any:
            return self._td(self.move.sample(), self.fire.sample())

        def deterministic_sample(self) -> Any:
            return self._td(self.move.deterministic_sample(), (self.fire.logits > 0).long())

        def logp(self, actions: Any) -> torch.Tensor:
            return self.move.logp(actions["move"]) + self.fire.log_prob(actions["fire"].float())

        def entropy(self) -> torch.Tensor:
            return self.move.entropy() + self.fire.entropy()

        def kl(self, other: Distribution) -> torch.Tensor:
            assert isinstance(other, Fire)
            return self.move.kl(other.move) + torch.distributions.kl_divergence(self.fire, other.fire)

    composite = example_action_specs()["composite"]
    assert check_distribution(Fire) == [composite]


def test_check_distribution_fails_when_it_accepts_no_spec() -> None:
    with pytest.raises(AssertionError, match="distribution Categorical accepted none of the specs: Box"):
        check_distribution(Categorical, [Box((2,))])
