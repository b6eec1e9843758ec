"""``ActorCriticCatalog`` and the default ``ActorCriticModule``."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torch import nn

from catalogs import ActorCriticCatalog, ActorCriticModule, Catalog, FreeParamHead
from rl8_core import Columns, ConfigError, Encoder, Registry
from rl8_plugins.encoders.mlp import MLPEncoder
from specs import Box, Discrete, Spec


def _batch(obs_spec: Spec, b: int = 6) -> TensorDict:
    return TensorDict({Columns.OBS: obs_spec.rand((b,), generator=torch.Generator().manual_seed(0))}, [b])


class WideEncoder(Encoder):
    def __init__(self, observation_spec: Spec, *, width: int = 8) -> None:
        super().__init__(observation_spec)
        self.output_dim = width
        self.net = nn.Linear(observation_spec.numel, width)  # type: ignore[attr-defined]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.net(obs.flatten(1)))


@pytest.mark.parametrize(
    ("obs", "action", "a"),
    [
        (Box((4,)), Discrete(2), 2),
        (Box((3, 2)), Discrete(5, start=1), 5),
        (Discrete(7), Box((2,), -1.0, 1.0), 4),
        (Box((5,)), Box((2, 3)), 12),
    ],
    ids=repr,
)
def test_forward_shapes(obs: Spec, action: Spec, a: int) -> None:
    m = ActorCriticModule(obs, action)
    batch = _batch(obs)
    train = m.forward_train(batch)
    assert set(train.keys()) == {Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS}
    assert train[Columns.ACTION_DIST_INPUTS].shape == (6, a)
    assert train[Columns.VF_PREDS].shape == (6,)
    with torch.no_grad():
        explore = m.forward_exploration(batch)
        infer = m.forward_inference(batch)
    assert set(explore.keys()) == {Columns.ACTION_DIST_INPUTS, Columns.VF_PREDS, Columns.ACTIONS, Columns.ACTION_LOGP}
    assert set(infer.keys()) == {Columns.ACTION_DIST_INPUTS, Columns.ACTIONS}
    assert explore[Columns.ACTION_LOGP].shape == (6,)
    for out in (explore, infer):
        assert out[Columns.ACTIONS].shape == (6, *action.shape)
        assert out[Columns.ACTIONS].dtype == action.dtype
    torch.testing.assert_close(infer[Columns.ACTIONS], m.forward_inference(batch)[Columns.ACTIONS])
    torch.testing.assert_close(train[Columns.ACTION_DIST_INPUTS], infer[Columns.ACTION_DIST_INPUTS])


def test_separate_encoders_by_default() -> None:
    m = ActorCriticModule(Box((4,)), Discrete(2))
    assert isinstance(m.pi_encoder, MLPEncoder)
    assert isinstance(m.vf_encoder, MLPEncoder)
    assert m.vf_encoder is not m.pi_encoder
    pi_params = {id(p) for p in m.pi_encoder.parameters()}
    assert pi_params.isdisjoint(id(p) for p in m.vf_encoder.parameters())
    # The value loss does not reach the policy encoder.
    m.forward_train(_batch(Box((4,))))[Columns.VF_PREDS].sum().backward()
    assert all(p.grad is None for p in m.pi_encoder.parameters())
    assert all(p.grad is not None for p in m.vf_encoder.parameters())


def test_shared_encoder() -> None:
    cat = ActorCriticCatalog(Box((4,)), Discrete(2), {"shared_encoder": True})
    pi, vf = cat.build_actor_critic_encoders()
    assert vf is None
    assert isinstance(pi, MLPEncoder)
    m = ActorCriticModule(Box((4,)), Discrete(2), {"shared_encoder": True})
    assert m.vf_encoder is None
    separate = ActorCriticModule(Box((4,)), Discrete(2))
    n_encoder = sum(p.numel() for p in m.pi_encoder.parameters())
    assert sum(p.numel() for p in separate.parameters()) == sum(p.numel() for p in m.parameters()) + n_encoder
    m.forward_train(_batch(Box((4,))))[Columns.VF_PREDS].sum().backward()
    assert all(p.grad is not None for p in m.pi_encoder.parameters())


def test_heads_follow_the_config() -> None:
    cat = ActorCriticCatalog(
        Box((4,)), Discrete(3), {"pi_hiddens": [16, 8], "vf_hiddens": [5], "head_activation": "relu"}
    )
    pi = cat.build_pi_head(10)
    vf = cat.build_vf_head(10)
    assert [m.out_features for m in pi.modules() if isinstance(m, nn.Linear)] == [16, 8, 3]
    assert [m.out_features for m in vf.modules() if isinstance(m, nn.Linear)] == [5, 1]
    assert sum(isinstance(m, nn.ReLU) for m in pi.modules()) == 2
    assert pi(torch.zeros(2, 10)).shape == (2, 3)
    assert vf(torch.zeros(2, 10)).shape == (2, 1)


def test_pi_head_is_sized_from_the_encoder_and_distribution() -> None:
    m = ActorCriticModule(Box((4,)), Box((3,)), {"encoder_config": {"hiddens": [256, 256]}})
    assert m.pi_encoder.output_dim == 256
    assert m.forward_train(_batch(Box((4,))))[Columns.ACTION_DIST_INPUTS].shape == (6, 6)


@pytest.mark.parametrize("init", [0.0, -0.5, 1.25])
def test_free_log_std_is_a_learnable_parameter(init: float) -> None:
    m = ActorCriticModule(Box((4,)), Box((2, 2)), {"init_log_std": init})
    assert isinstance(m.pi, FreeParamHead)
    free = m.pi.free
    assert isinstance(free, nn.Parameter)
    assert free.requires_grad
    assert any(p is free for p in m.parameters())
    torch.testing.assert_close(free.detach(), torch.full((4,), init))
    out = m.forward_train(_batch(Box((4,))))[Columns.ACTION_DIST_INPUTS]
    assert out.shape == (6, 8)
    # The last d inputs (log-stds) do not depend on the observation.
    torch.testing.assert_close(out[:, 4:], torch.full((6, 4), init))
    dist = m.make_action_dist(out)
    dist.logp(torch.ones(6, 2, 2)).sum().backward()
    assert free.grad is not None
    assert (free.grad != 0).all()


def test_state_dependent_log_std_without_free_log_std() -> None:
    m = ActorCriticModule(Box((4,)), Box((2,)), {"free_log_std": False})
    assert not isinstance(m.pi, FreeParamHead)
    linears = [x for x in m.pi.modules() if isinstance(x, nn.Linear)]
    assert linears[-1].out_features == 4


def test_categorical_has_no_free_params() -> None:
    m = ActorCriticModule(Box((4,)), Discrete(3))
    assert not isinstance(m.pi, FreeParamHead)


def test_in_process_encoder_through_the_module() -> None:
    reg = Registry()
    reg.register("encoder", "wide", WideEncoder)
    m = ActorCriticModule(
        Box((4,)), Discrete(2), {"encoder": "wide", "encoder_config": {"width": 11}, "vf_hiddens": [3]}, registry=reg
    )
    assert isinstance(m.pi_encoder, WideEncoder)
    assert isinstance(m.vf_encoder, WideEncoder)
    assert m.pi_encoder.output_dim == 11
    assert m.forward_train(_batch(Box((4,))))[Columns.VF_PREDS].shape == (6,)
    names = {(c["kind"], c["name"], c["plugin"]) for c in m.components()}
    assert names == {("encoder", "wide", "<in-process>"), ("distribution", "categorical", "categorical")}


def test_module_needs_an_actor_critic_catalog() -> None:
    with pytest.raises(TypeError, match="ActorCriticModule needs an ActorCriticCatalog, got Catalog"):
        ActorCriticModule(Box((4,)), Discrete(2), catalog_class=Catalog)


def test_module_rejects_bad_config_with_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'shared_encoders' \(did you mean 'shared_encoder'\?\)"):
        ActorCriticModule(Box((4,)), Discrete(2), {"shared_encoders": True})
    with pytest.raises(ConfigError, match=r"model_config\.pi_hiddens\[1\]: expected int"):
        ActorCriticModule(Box((4,)), Discrete(2), {"pi_hiddens": [8, "x"]})


def test_train_output_spec_includes_values() -> None:
    m = ActorCriticModule(Box((4,)), Discrete(2))
    for mode in ("train", "exploration"):
        spec = m.io_spec(mode, "output")
        assert spec is not None
        assert (Columns.VF_PREDS,) in spec  # type: ignore[operator]
    spec = m.io_spec("inference", "output")
    assert (Columns.VF_PREDS,) not in spec  # type: ignore[operator]
