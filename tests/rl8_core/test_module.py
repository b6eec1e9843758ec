"""``RLModule``: the spec-check contract, action sampling, state and persistence."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cloudpickle
import pytest
import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from catalogs import ActorCriticCatalog, ActorCriticModule, Catalog
from rl8_core import (
    CheckpointError,
    Columns,
    ConfigError,
    Registry,
    RLModule,
    RLModuleSpec,
)
from rl8_plugins.distributions.categorical import Categorical
from rl8_plugins.distributions.normal import Normal
from specs import Box, Discrete, SpecDict, SpecError, TensorShape, checking, is_checking

OBS = Box((4,))
ACT = Discrete(2)
B = 5

Edit = Callable[[TensorDictBase], TensorDictBase]


def _batch(b: int = B, spec: Box = OBS, seed: int = 0) -> TensorDict:
    return TensorDict({Columns.OBS: spec.rand((b,), generator=torch.Generator().manual_seed(seed))}, [b])


def _python(code: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (no inherited ``PYTHONPATH``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Scripted(ActorCriticModule):
    """The default module, with each forward's output passed through ``edits[mode]``."""

    def setup(self) -> None:
        super().setup()
        self.edits: dict[str, Edit] = {}
        self.calls = 0

    def _edit(self, mode: str, out: TensorDictBase) -> TensorDictBase:
        self.calls += 1
        edit = self.edits.get(mode)
        return out if edit is None else edit(out)

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        return self._edit("train", super()._forward_train(batch))

    def _forward_exploration(self, batch: TensorDictBase) -> TensorDictBase:
        return self._edit("exploration", super()._forward_exploration(batch))

    def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
        return self._edit("inference", super()._forward_inference(batch))


def _forward(m: RLModule, mode: str, batch: TensorDictBase) -> TensorDictBase:
    out: TensorDictBase = getattr(m, f"forward_{mode}")(batch)
    return out


MODES = ["train", "exploration", "inference"]


# --- Output checks ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_wrong_output_shape_names_module_mode_key_and_dims(mode: str) -> None:
    m = Scripted(OBS, ACT)
    m.edits[mode] = lambda out: out.set(Columns.ACTION_DIST_INPUTS, torch.zeros(B, 3))
    with pytest.raises(SpecError) as info:
        _forward(m, mode, _batch())
    err = info.value
    assert err.context == f"Scripted.forward_{mode} output"
    assert str(err).splitlines() == [
        f"Scripted.forward_{mode} output does not match its spec (1 mismatch):",
        "  - 'action_dist_inputs': dim 'a' (axis 1) expected 2, got 3 (shape [5, 3], expected [b, a=2])",
    ]
    (mismatch,) = err.mismatches
    assert (mismatch.path, mismatch.kind) == ("action_dist_inputs", "dim")


def test_missing_output_key() -> None:
    m = Scripted(OBS, ACT)
    m.edits["train"] = lambda out: out.exclude(Columns.VF_PREDS)
    with pytest.raises(SpecError, match=r"Scripted\.forward_train output .*\n  - 'vf_preds': missing key") as info:
        m.forward_train(_batch())
    assert [(x.path, x.kind) for x in info.value.mismatches] == [("vf_preds", "missing")]


def test_wrong_output_dtype() -> None:
    m = Scripted(OBS, ACT)
    m.edits["exploration"] = lambda out: out.set(Columns.VF_PREDS, torch.zeros(B, dtype=torch.int64))
    with pytest.raises(SpecError) as info:
        m.forward_exploration(_batch())
    assert "Scripted.forward_exploration output" in str(info.value)
    assert "'vf_preds': expected dtype floating, got torch.int64" in str(info.value)


def test_returned_actions_are_checked_against_the_action_spec() -> None:
    m = Scripted(OBS, ACT)
    m.edits["inference"] = lambda out: out.set(Columns.ACTIONS, torch.zeros(B, dtype=torch.float32))
    with pytest.raises(SpecError, match=r"'actions': expected dtype torch\.int64, got torch\.float32"):
        m.forward_inference(_batch())


def test_every_output_mismatch_is_listed() -> None:
    m = Scripted(OBS, ACT)
    m.edits["train"] = lambda out: TensorDict({Columns.ACTION_DIST_INPUTS: torch.zeros(B, 3, dtype=torch.int32)}, [B])
    with pytest.raises(SpecError) as info:
        m.forward_train(_batch())
    assert "(3 mismatches)" in str(info.value)
    assert sorted((x.path, x.kind) for x in info.value.mismatches) == [
        ("action_dist_inputs", "dim"),
        ("action_dist_inputs", "dtype"),
        ("vf_preds", "missing"),
    ]


# --- Input checks -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (
            TensorDict({Columns.OBS: torch.zeros(B, 3)}, [B]),
            "'obs': dim '4' (axis 1) expected 4, got 3 (shape [5, 3], expected [b, 4])",
        ),
        (
            TensorDict({Columns.OBS: torch.zeros(B, 4, dtype=torch.float64)}, [B]),
            "'obs': expected dtype torch.float32, got torch.float64",
        ),
        (TensorDict({Columns.OBS: torch.zeros(4)}, []), "'obs': expected rank 2 [b, 4], got rank 1 (shape [4])"),
        (
            TensorDict({"observations": torch.zeros(B, 4)}, [B]),
            "'obs': missing key (expected tensor [b, 4] torch.float32)",
        ),
    ],
    ids=["shape", "dtype", "rank", "missing"],
)
def test_wrong_input_is_named_as_input(mode: str, batch: TensorDict, message: str) -> None:
    m = Scripted(OBS, ACT)
    built = m.calls  # the build-time size check runs _forward_exploration once
    with pytest.raises(SpecError) as info:
        _forward(m, mode, batch)
    assert str(info.value).splitlines() == [
        f"Scripted.forward_{mode} input does not match its spec (1 mismatch):",
        f"  - {message}",
    ]
    assert m.calls == built  # the forward never ran


@pytest.mark.parametrize("mode", MODES)
def test_batch_dim_must_agree_between_input_and_output(mode: str) -> None:
    m = Scripted(OBS, ACT)

    def three_rows(out: TensorDictBase) -> TensorDictBase:
        return TensorDict({k: v[:3] for k, v in out.items()}, [])

    m.edits[mode] = three_rows
    with pytest.raises(SpecError) as info:
        _forward(m, mode, _batch())
    text = str(info.value)
    assert f"Scripted.forward_{mode} output" in text
    assert "'action_dist_inputs': dim 'b' (axis 0) expected 5 as at 'obs', got 3" in text


# --- The switch -------------------------------------------------------------------------


def test_checks_off_let_a_bad_module_run() -> None:
    m = Scripted(OBS, ACT)
    m.edits["train"] = lambda out: out.set(Columns.ACTION_DIST_INPUTS, torch.zeros(B, 3))
    bad_input = TensorDict({Columns.OBS: torch.zeros(B, 4, dtype=torch.float64)}, [B])
    with checking(False):
        assert not is_checking()
        assert m.forward_train(_batch())[Columns.ACTION_DIST_INPUTS].shape == (B, 3)
        assert m.forward_inference(bad_input)[Columns.ACTIONS].shape == (B,)
    assert is_checking()
    with pytest.raises(SpecError):
        m.forward_train(_batch())
    checking(False)  # plain call: for the rest of the process (conftest restores it)
    assert m.forward_train(_batch())[Columns.ACTION_DIST_INPUTS].shape == (B, 3)


# --- Custom specs -----------------------------------------------------------------------


class WithAux(ActorCriticModule):
    """Adds an ``aux`` output to ``forward_train`` and says so in its spec."""

    aux_shape: ClassVar[tuple[int, ...] | None] = None

    def output_specs_train(self) -> Any:
        """Add ``aux [b, 3]``."""
        spec = super().output_specs_train()
        assert isinstance(spec, SpecDict)
        return spec.merge({"aux": TensorShape("b, 3", dtype=torch.float32)})

    def _forward_train(self, batch: TensorDictBase) -> TensorDictBase:
        out = super()._forward_train(batch)
        if self.aux_shape is not None:
            out.set("aux", torch.zeros(*self.aux_shape))
        return out


def test_custom_output_spec_is_enforced() -> None:
    class Ok(WithAux):
        aux_shape = (B, 3)

    class Missing(WithAux):
        aux_shape = None

    class WrongSize(WithAux):
        aux_shape = (B, 2)

    assert Ok(OBS, ACT).forward_train(_batch())["aux"].shape == (B, 3)
    with pytest.raises(SpecError, match=r"Missing\.forward_train output .*\n  - 'aux': missing key"):
        Missing(OBS, ACT).forward_train(_batch())
    with pytest.raises(
        SpecError, match=r"(?s)WrongSize\.forward_train output .*'aux': dim '3' \(axis 1\) expected 3, got 2"
    ):
        WrongSize(OBS, ACT).forward_train(_batch())


def test_spec_methods_may_return_plain_mappings_or_none() -> None:
    class Plain(ActorCriticModule):
        def input_specs_train(self) -> Any:
            return {Columns.OBS: TensorShape("b, 4"), "mask": {"valid": TensorShape("b")}}

        def output_specs_inference(self) -> Any:
            return None

    m = Plain(OBS, ACT)
    spec = m.io_spec("train", "input")
    assert isinstance(spec, SpecDict)
    assert set(spec) == {("obs",), ("mask", "valid")}
    assert m.io_spec("inference", "output") is None
    with pytest.raises(SpecError, match=r"'mask\.valid': missing key"):
        m.forward_train(_batch())
    batch = _batch()
    batch.set(("mask", "valid"), torch.ones(B))
    m.forward_train(batch)


def test_the_six_spec_methods_run_once_at_init() -> None:
    counts: dict[str, int] = {}

    class Counting(ActorCriticModule):
        pass

    for mode in MODES:
        for io in ("input", "output"):
            name = f"{io}_specs_{mode}"

            def counted(self: RLModule, _name: str = name) -> Any:
                counts[_name] = counts.get(_name, 0) + 1
                return getattr(ActorCriticModule, _name)(self)

            setattr(Counting, name, counted)

    m = Counting(OBS, ACT)
    assert counts == {f"{io}_specs_{mode}": 1 for mode in MODES for io in ("input", "output")}
    for _ in range(3):
        m.forward_train(_batch())
        m.forward_exploration(_batch())
        m.forward_inference(_batch())
    assert set(counts.values()) == {1}


def test_public_forwards_are_final() -> None:
    for mode in MODES:
        assert getattr(RLModule, f"forward_{mode}").__final__ is True
        assert f"forward_{mode}" not in vars(ActorCriticModule)


def test_call_is_inference() -> None:
    m = ActorCriticModule(OBS, ACT)
    torch.testing.assert_close(m(_batch())[Columns.ACTIONS], m.forward_inference(_batch())[Columns.ACTIONS])


# --- Sampling semantics -----------------------------------------------------------------


class FixedDist(RLModule):
    """Returns fixed ``action_dist_inputs``; the base ``Catalog`` picks the distribution."""

    default_catalog_class = Catalog
    params: ClassVar[list[float]] = [0.0, 3.0, -1.0]

    def setup(self) -> None:
        self.inputs = nn.Parameter(torch.tensor(self.params))

    def _out(self, batch: TensorDictBase) -> TensorDictBase:
        b = batch.batch_size[0]
        return TensorDict({Columns.ACTION_DIST_INPUTS: self.inputs.expand(b, -1)}, [b])

    _forward_train = _forward_exploration = _forward_inference = _out


def test_exploration_samples_actions_and_logp() -> None:
    torch.manual_seed(0)
    m = FixedDist(OBS, Discrete(3, start=1))
    assert m.action_dist_cls is Categorical
    out = m.forward_exploration(_batch(4000))
    actions = out[Columns.ACTIONS]
    assert actions.dtype == torch.int64
    Discrete(3, start=1).validate(actions, batch_shape=(4000,))
    dist = Categorical(out[Columns.ACTION_DIST_INPUTS], Discrete(3, start=1))
    torch.testing.assert_close(out[Columns.ACTION_LOGP], dist.logp(actions))
    freq = torch.bincount(actions - 1, minlength=3).float() / 4000
    torch.testing.assert_close(freq, torch.tensor(m.params).softmax(0), atol=0.03, rtol=0)
    assert Columns.ACTIONS not in m.forward_train(_batch())


def test_inference_is_deterministic_argmax_or_mean() -> None:
    m = FixedDist(OBS, Discrete(3, start=1))
    out = m.forward_inference(_batch())
    assert out[Columns.ACTIONS].tolist() == [2] * B
    assert Columns.ACTION_LOGP not in out

    class FixedNormal(FixedDist):
        params: ClassVar[list[float]] = [0.5, -1.5, 0.0, 0.0]

    n = FixedNormal(OBS, Box((2,)))
    assert n.action_dist_cls is Normal
    torch.testing.assert_close(n.forward_inference(_batch())[Columns.ACTIONS], torch.tensor([[0.5, -1.5]] * B))
    explore = n.forward_exploration(_batch())
    assert explore[Columns.ACTIONS].shape == (B, 2)
    assert not torch.equal(explore[Columns.ACTIONS], n.forward_inference(_batch())[Columns.ACTIONS])


def test_returned_actions_are_kept() -> None:
    m = Scripted(OBS, Discrete(4))
    chosen = torch.tensor([3, 0, 1, 2, 3])
    for mode in ("exploration", "inference"):
        m.edits[mode] = lambda out: out.set(Columns.ACTIONS, chosen)
    explore = m.forward_exploration(_batch())
    assert torch.equal(explore[Columns.ACTIONS], chosen)
    # logp is filled in for the returned actions.
    dist = m.make_action_dist(explore[Columns.ACTION_DIST_INPUTS])
    torch.testing.assert_close(explore[Columns.ACTION_LOGP], dist.logp(chosen))
    assert torch.equal(m.forward_inference(_batch())[Columns.ACTIONS], chosen)


def test_returned_action_logp_is_kept() -> None:
    m = Scripted(OBS, ACT)
    logp = torch.full((B,), -0.25)
    m.edits["exploration"] = lambda out: out.update(
        {Columns.ACTIONS: torch.zeros(B, dtype=torch.long), Columns.ACTION_LOGP: logp}
    )
    assert torch.equal(m.forward_exploration(_batch())[Columns.ACTION_LOGP], logp)


def test_module_without_distribution_returns_actions() -> None:
    class Const(RLModule):
        def _out(self, batch: TensorDictBase) -> TensorDictBase:
            return TensorDict({Columns.ACTIONS: torch.ones(batch.batch_size, dtype=torch.long)}, batch.batch_size)

        _forward_train = _forward_exploration = _forward_inference = _out

    m = Const(OBS, ACT)
    assert m.action_dist_cls is None
    assert m.io_spec("train", "output") is None
    out = m.forward_exploration(_batch())
    assert set(out.keys()) == {Columns.ACTIONS}
    with pytest.raises(RuntimeError, match="Const has no action distribution"):
        m.make_action_dist(torch.zeros(B, 2))


def test_returning_neither_actions_nor_dist_inputs_fails_clearly() -> None:
    m = Scripted(OBS, ACT)
    m.edits["exploration"] = lambda out: out.exclude(Columns.ACTION_DIST_INPUTS)
    with pytest.raises(SpecError, match=r"forward_exploration output .*\n  - 'action_dist_inputs': missing key"):
        m.forward_exploration(_batch())
    with checking(False), pytest.raises(SpecError) as info:
        m.forward_exploration(_batch())
    assert str(info.value).splitlines() == [
        "Scripted.forward_exploration output does not match its spec (1 mismatch):",
        "  - 'actions': returned neither 'actions' nor 'action_dist_inputs'",
    ]

    class Nothing(RLModule):
        def _forward_inference(self, batch: TensorDictBase) -> TensorDictBase:
            return TensorDict({}, batch.batch_size)

    with pytest.raises(SpecError, match=r"Nothing\.forward_inference output .*\n  - 'actions': missing key"):
        Nothing(OBS, ACT).forward_inference(_batch())


def test_unimplemented_forward_names_the_class() -> None:
    class Empty(RLModule):
        pass

    with pytest.raises(NotImplementedError, match="Empty does not implement _forward_train"):
        Empty(OBS, ACT).forward_train(_batch())


# --- State ------------------------------------------------------------------------------


def test_get_state_and_set_state() -> None:
    torch.manual_seed(1)
    a = ActorCriticModule(OBS, Box((2,)))
    torch.manual_seed(2)
    b = ActorCriticModule(OBS, Box((2,)))
    batch = _batch()
    assert not torch.equal(
        a.forward_train(batch)[Columns.ACTION_DIST_INPUTS], b.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    )
    state = a.get_state()
    assert "pi.free" in state  # the free log-stds are state too
    b.set_state({k: v.clone() for k, v in state.items()})
    assert torch.equal(
        a.forward_train(batch)[Columns.ACTION_DIST_INPUTS], b.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    )
    with pytest.raises(RuntimeError, match="Missing key"):
        b.set_state({k: v for k, v in state.items() if k != "pi.free"})


# --- Persistence ------------------------------------------------------------------------
#
# Loading in a fresh interpreter is the real test of a checkpoint, but each interpreter
# pays for importing torch. So one subprocess (the ``fresh`` fixture) does all the
# fresh-process work: it saves a module whose class lives in its ``__main__``, and loads
# every checkpoint this process wrote. The tests below then check one thing each.

FRESH_SCRIPT = '''
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from tensordict import TensorDict

from catalogs import ActorCriticModule
from rl8_core import CheckpointError, RLModule
from specs import Box, Discrete


class Flipped(ActorCriticModule):
    """Defined in __main__: the checkpoint must carry the class by value."""

    def _forward_inference(self, batch):
        out = super()._forward_inference(batch)
        out.set("actions", 2 - out["action_dist_inputs"].argmax(-1))
        return out


work = Path(sys.argv[1])
obs = torch.load(work / "obs.pt")
batch = TensorDict({"obs": obs}, [len(obs)])

torch.manual_seed(0)
main = Flipped(Box((4,)), Discrete(3), {"vf_hiddens": [4]})
main.save_to_path(work / "main")
results = {"main": {"actions": main.forward_inference(batch)["actions"]}}

for name in sys.argv[2:]:
    try:
        module = RLModule.from_checkpoint(work / name)
    except CheckpointError as exc:
        results[name] = {"error": str(exc)}
        continue
    with torch.no_grad():
        out = module.forward_inference(batch)
    results[name] = {"cls": type(module).__name__, "actions": out["actions"], "inputs": out["action_dist_inputs"]}
torch.save(results, work / "results.pt")
'''


@dataclass
class Fresh:
    """What the fresh interpreter saw, and what this process expected."""

    work: Path
    obs: torch.Tensor
    expected: dict[str, TensorDictBase]
    results: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, acme_site: Path) -> Fresh:
    work = tmp_path_factory.mktemp("fresh")
    obs = OBS.rand((16,), generator=torch.Generator().manual_seed(3))
    torch.save(obs, work / "obs.pt")
    batch = TensorDict({Columns.OBS: obs}, [16])

    torch.manual_seed(0)
    discrete = ActorCriticModule(OBS, Discrete(3, start=1), {"pi_hiddens": [8]})
    normed = ActorCriticModule(OBS, Box((2,)), {"normalize_obs": True, "init_log_std": -0.3})
    assert normed.obs_normalizer is not None
    normed.obs_normalizer.update(torch.randn(500, 4) * 3 + 1)
    expected = {}
    for name, m in (("discrete", discrete), ("normed", normed)):
        assert m.save_to_path(work / name) == work / name
        with torch.no_grad():
            expected[name] = m.forward_inference(batch)

    # A third-party package that the fresh interpreter will not have.
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(acme_site))
        import acme_mod  # type: ignore[import-not-found]

        reg = Registry()
        assert reg.info("encoder", "acme_enc").distribution == "acme-mod"
        acme_mod.AcmeModule(OBS, ACT, registry=reg).save_to_path(work / "acme_module_class")
        ActorCriticModule(OBS, ACT, {"encoder": "acme_enc"}, registry=reg).save_to_path(work / "acme_component")

    names = ["discrete", "normed", "acme_module_class", "acme_component"]
    proc = _python(FRESH_SCRIPT, work, *names, cwd=work)
    assert proc.returncode == 0, proc.stderr
    return Fresh(work, obs, expected, torch.load(work / "results.pt"))


@pytest.mark.parametrize("name", ["discrete", "normed"])
def test_checkpoint_restores_in_a_fresh_process(fresh: Fresh, name: str) -> None:
    got = fresh.results[name]
    assert got["cls"] == "ActorCriticModule"
    assert torch.equal(got["actions"], fresh.expected[name][Columns.ACTIONS])
    assert torch.equal(got["inputs"], fresh.expected[name][Columns.ACTION_DIST_INPUTS])


def test_checkpoint_metadata(fresh: Fresh) -> None:
    meta = RLModule.read_checkpoint_metadata(fresh.work / "normed")
    assert meta["observation_spec"] == OBS
    assert meta["action_spec"] == Box((2,))
    assert meta["model_config"] == {"normalize_obs": True, "init_log_std": -0.3}
    assert meta["module_class"] == "catalogs._actor_critic:ActorCriticModule"
    assert {(c["kind"], c["name"], c["distribution"]) for c in meta["components"]} == {
        ("encoder", "mlp", "rl8-core"),
        ("distribution", "normal", "rl8-core"),
    }
    assert {c["role"]: c["distribution"] for c in meta["classes"]} == {
        "module_class": "rl8-core",
        "catalog_class": "rl8-core",
    }


def test_module_class_from_main_round_trips(fresh: Fresh) -> None:
    m = RLModule.from_checkpoint(fresh.work / "main")
    assert type(m).__name__ == "Flipped"
    assert type(m).__module__ == "__main__"  # pickled by value: no import needed
    assert isinstance(m, ActorCriticModule)
    assert m.model_config == {"vf_hiddens": [4]}
    actions = m.forward_inference(TensorDict({Columns.OBS: fresh.obs}, [16]))[Columns.ACTIONS]
    assert torch.equal(actions, fresh.results["main"]["actions"])
    meta = RLModule.read_checkpoint_metadata(fresh.work / "main")
    assert meta["module_class"] == "__main__:Flipped"


def test_missing_module_package_is_named(fresh: Fresh) -> None:
    error = fresh.results["acme_module_class"]["error"]
    assert error.startswith(f"cannot restore the module in {fresh.work / 'acme_module_class'}: ")
    assert "ModuleNotFoundError: No module named 'acme_mod'" in error
    assert "module class acme_mod:AcmeModule from acme-mod" in error
    assert error.endswith("install the missing package: pip install acme-mod==0.3")


def test_missing_component_package_is_named(fresh: Fresh) -> None:
    error = fresh.results["acme_component"]["error"]
    assert error.startswith(f"cannot restore the module in {fresh.work / 'acme_component'}: ")
    assert "unknown encoder 'acme_enc'" in error
    assert "It was built with encoder 'acme_enc' from acme-mod" in error
    assert error.endswith("install the missing package: pip install acme-mod==0.3")


def test_obs_normalisation_is_applied_saved_and_restored(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = ActorCriticModule(OBS, Box((2,)), {"normalize_obs": True})
    plain = ActorCriticModule(OBS, Box((2,)))
    plain.load_state_dict(m.state_dict(), strict=False)
    batch = _batch(8)
    obs_before = batch[Columns.OBS].clone()
    # Fresh statistics (mean 0, var 1) leave observations as they are.
    torch.testing.assert_close(
        m.forward_inference(batch)[Columns.ACTIONS], plain.forward_inference(batch)[Columns.ACTIONS]
    )
    assert m.obs_normalizer is not None
    m.obs_normalizer.update(torch.randn(1000, 4) * 5 + 3)
    normed = m.forward_inference(batch)[Columns.ACTIONS]
    assert not torch.allclose(normed, plain.forward_inference(batch)[Columns.ACTIONS])
    assert torch.equal(batch[Columns.OBS], obs_before)  # the caller's batch is not modified
    assert "obs_normalizer.stats.0.mean" in m.get_state()

    restored = RLModule.from_checkpoint(m.save_to_path(tmp_path / "ckpt"))
    assert restored.obs_normalizer is not None
    for key in ("mean", "var", "count"):
        assert torch.equal(getattr(restored.obs_normalizer.stats[0], key), getattr(m.obs_normalizer.stats[0], key))
    assert torch.equal(restored.forward_inference(batch)[Columns.ACTIONS], normed)


def test_normalize_obs_must_be_a_bool() -> None:
    class NoCatalog(RLModule):
        pass

    with pytest.raises(ConfigError, match=r"model_config\.normalize_obs: expected bool"):
        NoCatalog(OBS, ACT, {"normalize_obs": "yes"})
    with pytest.raises(ConfigError, match=r"model_config\.normalize_obs: expected bool"):
        ActorCriticModule(OBS, ACT, {"normalize_obs": 1})


def test_whole_module_cloudpickle_round_trip() -> None:
    torch.manual_seed(0)
    m = ActorCriticModule(OBS, Box((2,)), {"normalize_obs": True, "shared_encoder": True})
    assert m.obs_normalizer is not None
    m.obs_normalizer.update(torch.randn(100, 4))
    restored = cloudpickle.loads(cloudpickle.dumps(m))
    batch = _batch()
    assert torch.equal(restored.forward_inference(batch)[Columns.ACTIONS], m.forward_inference(batch)[Columns.ACTIONS])
    assert restored.catalog._registry is None  # the process's registry is not pickled
    assert restored.components() == m.components()
    with pytest.raises(SpecError, match=r"ActorCriticModule\.forward_train input"):
        restored.forward_train(TensorDict({"obs": torch.zeros(B, 3)}, [B]))
    # Plain pickle works too for importable classes.
    again = pickle.loads(pickle.dumps(m))
    assert torch.equal(again.forward_inference(batch)[Columns.ACTIONS], m.forward_inference(batch)[Columns.ACTIONS])


def test_from_checkpoint_checks_the_class_and_the_directory(tmp_path: Path) -> None:
    path = FixedDist(OBS, Discrete(3)).save_to_path(tmp_path / "fixed")
    assert type(RLModule.from_checkpoint(path)) is FixedDist
    with pytest.raises(CheckpointError, match="holds a FixedDist, not a ActorCriticModule"):
        ActorCriticModule.from_checkpoint(path)
    with pytest.raises(CheckpointError, match="is not an RLModule checkpoint"):
        RLModule.from_checkpoint(tmp_path)


def test_save_replaces_an_existing_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    first, second = ActorCriticModule(OBS, ACT), ActorCriticModule(OBS, ACT)
    first.save_to_path(tmp_path / "ckpt")
    second.save_to_path(tmp_path / "ckpt")
    restored = RLModule.from_checkpoint(tmp_path / "ckpt")
    for key, value in second.get_state().items():
        assert torch.equal(restored.get_state()[key], value)


def test_rlmodule_spec_builds_from_import_paths() -> None:
    spec = RLModuleSpec(
        "catalogs:ActorCriticModule",
        OBS,
        ACT,
        {"shared_encoder": True},
        catalog_class="catalogs.ActorCriticCatalog",
    )
    m = spec.build()
    assert type(m) is ActorCriticModule
    assert m.catalog_class is ActorCriticCatalog
    assert m.vf_encoder is None
    assert RLModuleSpec(ActorCriticModule, OBS, ACT).build().catalog_class is ActorCriticCatalog
    with pytest.raises(TypeError, match="module_class must be an RLModule subclass"):
        RLModuleSpec("collections:OrderedDict", OBS, ACT).build()
    with pytest.raises(ImportError, match="cannot import 'no_such_pkg_xyz:Module'"):
        RLModuleSpec("no_such_pkg_xyz:Module", OBS, ACT).build()


def test_rlmodule_spec_passes_its_registry() -> None:
    from catalogs import FreeParamHead  # noqa: F401  (the module's parts come from the registry)
    from rl8_plugins.encoders.mlp import MLPEncoder

    class Wide(MLPEncoder):
        pass

    reg = Registry()
    reg.register("encoder", "wide", Wide)
    m = RLModuleSpec(ActorCriticModule, OBS, ACT, {"encoder": "wide"}, registry=reg).build()
    assert type(m.pi_encoder) is Wide
