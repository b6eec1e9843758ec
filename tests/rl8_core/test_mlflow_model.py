"""RLModules as MLflow models: the pyfunc round trip over every space, state, input errors, logging and export.

Every test saves a real MLflow model directory with ``rl8_core.mlflow`` and
loads it back through MLflow's own ``mlflow.pyfunc.load_model``, so what is
checked is what ``mlflow models serve`` and the model registry see.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from tensordict import TensorDict, TensorDictBase

from catalogs import ActorCriticModule
from rl8_core import Columns, Registry, RLModule, TrainConfig, Trainer
from rl8_core import mlflow as rl8_mlflow
from rl8_core.cli import main
from specs import Box, Composite, Discrete, MultiBinary, Spec, TensorSpec, from_gymnasium

ROOT = Path(__file__).resolve().parents[2]


def _synthetic() -> ModuleType:
    """The space matrix's synthetic spaces (``tests/integration/synthetic.py``, loaded by path)."""
    name = "rl8_tests_integration_synthetic"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "integration" / "synthetic.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


SYNTHETIC = _synthetic()
OBS_KINDS = sorted(SYNTHETIC.OBSERVATION_SPACES)
ACTION_KINDS = sorted(SYNTHETIC.ACTION_SPACES)


def _frame(spec: Spec, obs: torch.Tensor | TensorDictBase) -> pd.DataFrame:
    """The observations as the pyfunc model reads them: one column per leaf (dotted path), one row each."""
    if not isinstance(spec, Composite):
        return pd.DataFrame({"obs": obs.tolist()})
    assert isinstance(obs, TensorDictBase)
    return pd.DataFrame({".".join(path): obs.get(path).tolist() for path, _ in spec.leaves()})


def _action_columns(spec: Spec, actions: torch.Tensor | TensorDictBase) -> dict[str, np.ndarray]:
    if not isinstance(spec, Composite):
        return {"actions": actions.numpy()}
    assert isinstance(actions, TensorDictBase)
    return {"actions." + ".".join(path): actions.get(path).numpy() for path, _ in spec.leaves()}


def _saved(module: RLModule, path: Path) -> Any:
    rl8_mlflow.save_model(module, path)
    return mlflow.pyfunc.load_model(str(path))


@pytest.mark.parametrize("obs_kind", OBS_KINDS)
def test_predict_equals_forward_inference_for_every_space(obs_kind: str, tmp_path: Path) -> None:
    """Each observation kind x each action kind: the served actions are ``forward_inference``'s, column by column."""
    obs_spec = from_gymnasium(SYNTHETIC.OBSERVATION_SPACES[obs_kind])
    for action_kind in ACTION_KINDS:
        action_spec = from_gymnasium(SYNTHETIC.ACTION_SPACES[action_kind])
        torch.manual_seed(0)
        module = ActorCriticModule(obs_spec, action_spec, {"pi_hiddens": [16], "vf_hiddens": [16]})
        model = _saved(module, tmp_path / action_kind)
        obs = obs_spec.rand((6,), generator=torch.Generator().manual_seed(1))
        got = model.predict(_frame(obs_spec, obs))
        with torch.no_grad():
            expected = module.forward_inference(TensorDict({Columns.OBS: obs}, [6]))
        want = _action_columns(action_spec, expected.get(Columns.ACTIONS))
        assert list(got.columns) == list(want), (obs_kind, action_kind)
        for column, value in want.items():
            served = np.asarray(got[column].tolist())
            assert served.shape == value.shape, (obs_kind, action_kind, column)
            np.testing.assert_array_equal(served, value, err_msg=f"{obs_kind} x {action_kind}: {column}")


def _trained_like(module: ActorCriticModule) -> ActorCriticModule:
    """Give the observation normaliser statistics that matter (as if trained on shifted, scaled data)."""
    assert module.obs_normalizer is not None
    module.obs_normalizer.update(torch.randn(500, 4) * 3 + 2)
    return module


def test_logp_values_normalisation_and_the_dict_of_arrays_form(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = _trained_like(ActorCriticModule(Box((4,)), Discrete(3), {"normalize_obs": True}))
    model = _saved(module, tmp_path / "m")
    obs = torch.randn(8, 4) * 3 + 2
    got = model.predict(pd.DataFrame({"obs": obs.tolist()}), params={"action_logp": True, "vf_preds": True})
    batch = TensorDict({Columns.OBS: obs}, [8])
    with torch.no_grad():
        inference, exploration = module.forward_inference(batch), module.forward_exploration(batch)
        dist = module.make_action_dist(inference.get(Columns.ACTION_DIST_INPUTS))
        logp = dist.logp(inference.get(Columns.ACTIONS))
    assert list(got.columns) == ["actions", "action_logp", "vf_preds"]
    np.testing.assert_array_equal(got["actions"], inference.get(Columns.ACTIONS).numpy())
    np.testing.assert_allclose(got["action_logp"], logp.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got["vf_preds"], exploration.get(Columns.VF_PREDS).numpy(), rtol=1e-6)
    # rl8's form: a dict of arrays [B, ...], and sequences [B, T, ...] that come back as B * T rows in (b, t) order.
    as_dict = model.predict({"obs": obs.numpy()})
    np.testing.assert_array_equal(as_dict["actions"], got["actions"])
    seqs = model.predict({"obs": obs.reshape(2, 4, 4).numpy()})
    np.testing.assert_array_equal(seqs["actions"], got["actions"])


def test_sampling_is_available_and_stays_in_the_action_spec(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = ActorCriticModule(Box((4,)), Discrete(3), {"init_log_std": 0.0})
    model = _saved(module, tmp_path / "m")
    frame = pd.DataFrame({"obs": torch.zeros(400, 4).tolist()})
    sampled = model.predict(frame, params={"deterministic": False, "action_logp": True})
    greedy = model.predict(frame)
    assert greedy["actions"].nunique() == 1  # the same observation: the same greedy action
    assert sampled["actions"].nunique() == 3  # near-uniform policy: every action drawn from 400 samples
    assert sampled["actions"].between(0, 2).all()
    assert (sampled["action_logp"] < 0).all()


def test_action_mask_works_through_the_model(tmp_path: Path) -> None:
    obs_spec = Composite({"obs": Box((4,)), "action_mask": MultiBinary(5)})
    module = ActorCriticModule(obs_spec, Discrete(5))
    model = _saved(module, tmp_path / "m")
    allowed = [3, 1, 4, 0]
    masks = torch.zeros(4, 5, dtype=torch.int8)
    masks[torch.arange(4), torch.tensor(allowed)] = 1
    frame = pd.DataFrame({"obs": torch.randn(4, 4).tolist(), "action_mask": masks.tolist()})
    for params in ({}, {"deterministic": False}):
        assert model.predict(frame, params=params)["actions"].tolist() == allowed
    assert rl8_mlflow.input_columns(module) == ["obs", "action_mask"]


@pytest.mark.parametrize("memory", ["lstm", "attention"])
def test_a_stateful_module_steps_an_episode_through_state_columns(memory: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = ActorCriticModule(Box((4,)), Discrete(2), {"memory": memory})
    model = _saved(module, tmp_path / "m")
    columns = rl8_mlflow.input_columns(module)
    state_columns = [c for c in columns if c.startswith("state_in.")]
    assert columns[0] == "obs"
    assert state_columns
    obs = torch.randn(2, 5, 4)
    # The module itself, stepping two episodes from the initial state.
    state, expected = module.initial_state(2), []
    with torch.no_grad():
        for t in range(5):
            out = module.forward_inference(TensorDict({Columns.OBS: obs[:, t], Columns.STATE_IN: state}, [2]))
            expected.append(out.get(Columns.ACTIONS))
            state = out.get(Columns.STATE_OUT)
    # The model, one request per step, each sending back the previous answer's state_out.
    served, frame = [], pd.DataFrame({"obs": obs[:, 0].tolist()})
    for t in range(5):
        answer = model.predict(frame)
        served.append(answer["actions"].to_numpy())
        frame = pd.DataFrame({"obs": obs[:, t + 1].tolist()}) if t < 4 else frame
        for column in state_columns:
            frame[column] = answer[column.replace("state_in.", "state_out.", 1)]
    np.testing.assert_array_equal(np.stack(served, 1), torch.stack(expected, 1).numpy())
    # One request with sequences [B, T]: B * T rows, the state carried inside.
    seqs = model.predict({"obs": obs.numpy()})
    np.testing.assert_array_equal(seqs["actions"].to_numpy(), torch.stack(expected, 1).reshape(-1).numpy())
    last = seqs[[c for c in seqs.columns if c.startswith("state_out.")]].iloc[4::5]
    for column in last.columns:
        np.testing.assert_allclose(
            np.asarray(last[column].tolist()), state.get(tuple(column.split(".")[1:])).numpy(), atol=1e-6
        )
    with pytest.raises(MlflowException, match=r"state column\(s\) \[.*\] missing while \['state_in\..*'\] are given"):
        model.predict(frame[["obs", state_columns[0]]] if len(state_columns) > 1 else frame.assign(x=1).iloc[:0])


@pytest.fixture(scope="module")
def mode_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A served model of a module over ``{obs: Box(4), mode: Discrete(3)}``."""
    module = ActorCriticModule(Composite({"obs": Box((4,)), "mode": Discrete(3)}), Discrete(2))
    return _saved(module, tmp_path_factory.mktemp("mode") / "m")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"obs": [[0.0, 1.0, 2.0]], "mode": [1]}), r"column 'obs': expected one \[4\] array per row"),
        (pd.DataFrame({"obs": [[0.0] * 4, [0.0] * 3], "mode": [1, 1]}), r"column 'obs': rows of different lengths"),
        (pd.DataFrame({"obs": ["abcd"], "mode": [1]}), r"column 'obs': expected numbers .* got text"),
        (pd.DataFrame({"obs": [[0.0] * 4], "mode": [1.5]}), r"column 'mode': expected integers .* fractional"),
        (pd.DataFrame({"obs": [[0.0] * 4], "mode": [7]}), r"column 'mode': values outside Discrete\(3\)"),
        (
            pd.DataFrame({"obs": [[0.0] * 4], "mode": [[1, 2]]}),
            r"disagree on steps per row: 'obs' one step, 'mode' a sequence of 2",
        ),
        (pd.DataFrame({"obs": [[0.0] * 4]}), r"missing inputs \['mode'\]"),
    ],
)
def test_bad_input_is_one_clear_error_naming_the_column(frame: pd.DataFrame, message: str, mode_model: Any) -> None:
    with pytest.raises(MlflowException, match=message):
        mode_model.predict(frame)


def test_unknown_params_and_wrong_image_values_are_refused(tmp_path: Path) -> None:
    module = ActorCriticModule(Box((6, 6, 3), 0, 255, torch.uint8), Discrete(2))
    model = _saved(module, tmp_path / "m")
    image = torch.zeros(1, 6, 6, 3, dtype=torch.int64)
    assert model.predict(pd.DataFrame({"obs": image.tolist()}))["actions"].shape == (1,)
    image[0, 0, 0, 0] = 300
    with pytest.raises(MlflowException, match=r"column 'obs': values outside .*uint8"):
        model.predict(pd.DataFrame({"obs": image.tolist()}))
    with pytest.raises(MlflowException, match=r"unknown params \['greedy'\]"):
        model.unwrap_python_model().predict(None, pd.DataFrame({"obs": image.tolist()}), {"greedy": True})


def test_the_saved_model_is_a_complete_mlflow_model(tmp_path: Path) -> None:
    module = ActorCriticModule(Composite({"position": Box((2,)), "velocity": Box((2,))}), Box((2,)))
    rl8_mlflow.save_model(module, tmp_path / "m")
    mlmodel = (tmp_path / "m" / "MLmodel").read_text()
    assert "python_function:" in mlmodel
    assert "rl8_core:" in mlmodel
    requirements = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert "rl8-core==0.1.0" in requirements
    assert any(r.startswith("mlflow==") for r in requirements)
    info = mlflow.models.get_model_info(str(tmp_path / "m"))
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["position", "velocity"]
    assert [c["name"] for c in info.signature.outputs.to_dict()] == ["actions", "action_logp", "vf_preds"]
    assert {p.name: p.default for p in info.signature.params} == rl8_mlflow.PARAMS
    example = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert example["dataframe_split"]["columns"] == ["position", "velocity"]
    restored = rl8_mlflow.load_model(str(tmp_path / "m"))
    assert type(restored) is ActorCriticModule
    for key, value in module.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value)


def test_a_model_whose_plugin_package_is_missing_names_it(acme_site: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(acme_site))
        reg = Registry()
        module = ActorCriticModule(Box((4,)), Discrete(2), {"encoder": "acme_enc"}, registry=reg)
        rl8_mlflow.save_model(module, tmp_path / "m")
    assert "acme-mod==0.3" in (tmp_path / "m" / "requirements.txt").read_text().split()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import mlflow, sys; mlflow.pyfunc.load_model(sys.argv[1])"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m")], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode != 0
    assert "install the missing package: pip install acme-mod==0.3" in proc.stderr


def _config(tmp_path: Path, **tracking: Any) -> TrainConfig:
    return TrainConfig.from_mapping(
        {
            "env": "cartpole",
            "num_envs": 4,
            "horizon": 16,
            "stop": {"env_steps": 128},
            "eval": {"at_end": False},
            "progress": "none",
            "checkpoint": {"dir": str(tmp_path / "ckpt")},
            "tracking": {"log_curves": False, **tracking},
        }
    )


def test_training_logs_and_registers_the_final_module(tmp_path: Path) -> None:
    store = os.environ["MLFLOW_TRACKING_URI"]
    with Trainer(_config(tmp_path, registered_model_name="cartpole-policy")) as trainer:
        trainer.run()
        module, run_id = trainer.module, trainer.run_id
    assert trainer.model_uri == f"runs:/{run_id}/model"
    # Logging the model pointed MLflow's fluent API at the run's store for a while only.
    assert os.environ["MLFLOW_TRACKING_URI"] == store
    assert mlflow.get_tracking_uri() == store
    obs = torch.randn(5, 4)
    with torch.no_grad():
        expected = module.forward_inference(TensorDict({Columns.OBS: obs}, [5])).get(Columns.ACTIONS).numpy()
    for uri in (f"runs:/{run_id}/model", "models:/cartpole-policy/1"):
        got = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"obs": obs.tolist()}))
        np.testing.assert_array_equal(got["actions"], expected)
    assert isinstance(rl8_mlflow.load_model("models:/cartpole-policy/1"), ActorCriticModule)


def test_log_model_false_logs_no_model(tmp_path: Path) -> None:
    with Trainer(_config(tmp_path, log_model=False)) as trainer:
        trainer.run()
    assert trainer.model_uri is None
    with pytest.raises(MlflowException):
        mlflow.pyfunc.load_model(f"runs:/{trainer.run_id}/model")


def test_rl8_export_writes_a_model_from_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Trainer(_config(tmp_path, enabled=False)) as trainer:
        trainer.run()
    assert trainer.run_dir is not None
    assert main(["export", str(trainer.run_dir), str(tmp_path / "model")]) == 0
    assert f"MLflow model written to {tmp_path / 'model'}" in capsys.readouterr().out
    got = mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(pd.DataFrame({"obs": [[0.0] * 4]}))
    assert got["actions"].between(0, 1).all()

    assert main(["export", str(trainer.run_dir), str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"rl8 export: error: {tmp_path / 'model'} exists and is not empty; name a new directory for the model"
    assert main(["export", str(tmp_path), str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rl8 export: error: ")
    assert len(err.splitlines()) == 1


def test_spec_leaf_columns() -> None:
    spec = from_gymnasium(SYNTHETIC.OBSERVATION_SPACES["nested"])
    module = ActorCriticModule(spec, Discrete(2))
    assert rl8_mlflow.input_columns(module) == ["a.0.x", "a.0.y", "a.1", "b"]
    composite_actions = from_gymnasium(SYNTHETIC.ACTION_SPACES["tuple"])
    assert rl8_mlflow.output_columns(ActorCriticModule(Box((2,)), composite_actions), {"vf_preds": True}) == [
        "actions.0",
        "actions.1.aim",
        "actions.1.mode",
        "vf_preds",
    ]
    assert all(isinstance(leaf, TensorSpec) for _, leaf in spec.leaves())
