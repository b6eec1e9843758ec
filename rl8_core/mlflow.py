"""RLModules as MLflow models: ``save_model``, ``log_model``, ``load_model`` and the pyfunc model that serves them.

A saved model is an ordinary MLflow model directory (an ``MLmodel`` file, a
Python environment, a signature and an input example) whose artifact
``module`` is the RLModule's own directory (``RLModule.save_to_path``). It has
two flavours: ``python_function``, so every MLflow tool works on it unchanged
(``mlflow.pyfunc.load_model``, the model registry, ``mlflow models serve``,
``mlflow models predict``, Docker builds), and ``rl8_core``, which
``load_model`` reads back into the RLModule itself.

The pyfunc model takes one row per observation. Its columns are the
observation's leaves: ``obs`` for a single tensor (a list per row for a vector,
nested lists for an image), or one column per leaf of a composite observation,
named by its dotted path (``position``, ``velocity``, ``sensors.lidar``). A dict
of arrays ``{column: [B, ...]}`` or sequences ``{column: [B, T, ...]}`` works
too; a sequence comes back as ``B * T`` rows in ``(b, t)`` order. It returns
one row per observation: ``actions`` (``actions.<path>`` for each leaf of a
composite action), plus ``action_logp`` and ``vf_preds`` when the pyfunc
params ask for them. Params: ``deterministic`` (default ``true``: act with
``forward_inference``; ``false`` samples with ``forward_exploration``),
``action_logp`` and ``vf_preds`` (default ``false``).

A stateful (recurrent, attention) module's state travels in the same frame:
``state_in.<path>`` columns in, ``state_out.<path>`` columns out, one list per
row. Rows without ``state_in`` columns start an episode from the module's
initial state; to step an episode, send each row's ``state_out`` back as the
next request's ``state_in`` (a REST client needs nothing but the frame).

Examples:
    >>> import tempfile, pandas as pd, mlflow
    >>> from rl8_core import RLModuleSpec
    >>> from specs import Box, Discrete
    >>> module = RLModuleSpec(observation_spec=Box((4,)), action_spec=Discrete(2),
    ...     module_class="catalogs:ActorCriticModule").build()
    >>> path = tempfile.mkdtemp() + "/model"
    >>> save_model(module, path)
    >>> model = mlflow.pyfunc.load_model(path)
    >>> out = model.predict(pd.DataFrame({"obs": [[0.0, 0.1, 0.0, -0.1]]}), params={"vf_preds": True})
    >>> list(out.columns)
    ['actions', 'vf_preds']
    >>> load_model(path).observation_spec
    Box((4,), low=-inf, high=inf, dtype=torch.float32)
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.checkpoints import module as module_dir
from rl8_core.columns import Columns
from rl8_core.components.module import RLModule
from rl8_core.errors import CheckpointError
from rl8_core.imports import BUILTIN_DISTRIBUTION
from specs import Composite, Spec, TensorSpec

# MLflow's pyfunc module warns on import about a type hint of its own (AnyType in its agent schemas): nothing
# our users could act on.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning)
    from mlflow.pyfunc.model import PythonModel

if TYPE_CHECKING:
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo

__all__ = [
    "FLAVOR_NAME",
    "MODULE_ARTIFACT",
    "PARAMS",
    "RLModulePythonModel",
    "input_columns",
    "load_model",
    "log_model",
    "module_requirements",
    "output_columns",
    "save_model",
]

#: Name of the native flavour in the ``MLmodel`` file.
FLAVOR_NAME = "rl8_core"
#: Name of the artifact that holds the RLModule's directory.
MODULE_ARTIFACT = "module"
#: The pyfunc params and their defaults (serving acts deterministically unless asked to sample).
PARAMS: dict[str, bool] = {"deterministic": True, "action_logp": False, "vf_preds": False}


def _leaves(spec: Spec, prefix: str) -> list[tuple[str, tuple[str, ...], TensorSpec]]:
    """Return ``(column, path, leaf)`` for each leaf of ``spec``: ``prefix`` for one tensor, dotted paths otherwise."""
    if isinstance(spec, Composite):
        top = "" if prefix == Columns.OBS else f"{prefix}."
        return [(top + ".".join(path), path, leaf) for path, leaf in spec.leaves()]
    assert isinstance(spec, TensorSpec)
    return [(prefix, (), spec)]


def _state_leaves(module: RLModule, key: str) -> list[tuple[str, tuple[str, ...], torch.Tensor]]:
    """Return ``(column, path, initial value)`` of each leaf of a stateful module's state under ``key``."""
    state = module.get_initial_state()
    out = []
    for leaf in state.keys(include_nested=True, leaves_only=True):
        path = (leaf,) if isinstance(leaf, str) else tuple(leaf)
        out.append((f"{key}.{'.'.join(path)}", path, state.get(leaf)))
    return out


def input_columns(module: RLModule) -> list[str]:
    """Return the columns ``predict`` reads: the observation's leaves, then the ``state_in`` leaves (optional).

    Examples:
        >>> from specs import Box, Composite, Discrete
        >>> module = RLModule(Composite({"position": Box((2,)), "velocity": Box((2,))}), Discrete(3))
        >>> input_columns(module)
        ['position', 'velocity']
    """
    return [c for c, _, _ in _leaves(module.observation_spec, Columns.OBS)] + [
        c for c, _, _ in _state_leaves(module, Columns.STATE_IN)
    ]


def output_columns(module: RLModule, params: Mapping[str, Any] | None = None) -> list[str]:
    """Return the columns ``predict`` returns for ``params``: actions, then logp, values and ``state_out``."""
    chosen = {**PARAMS, **(params or {})}
    return (
        [c for c, _, _ in _leaves(module.action_spec, Columns.ACTIONS)]
        + [name for name in (Columns.ACTION_LOGP, Columns.VF_PREDS) if chosen[name]]
        + [c for c, _, _ in _state_leaves(module, Columns.STATE_OUT)]
    )


def _any_type() -> Any:
    from mlflow.types.schema import AnyType

    return AnyType()  # type: ignore[no-untyped-call]


def _col_type(dtype: torch.dtype, ndim: int) -> Any:
    from mlflow.types.schema import Array

    scalar = "double" if dtype.is_floating_point else "boolean" if dtype == torch.bool else "long"
    return scalar if ndim == 0 else Array(scalar) if ndim == 1 else _any_type()


def _signature(module: RLModule) -> ModelSignature:
    """The signature: observation (and optional state) columns in, action columns out, the pyfunc params.

    The input columns are typed ``Any``: MLflow's typed array columns would
    refuse the dict-of-arrays and sequence forms; ``predict`` checks each
    column's width and dtype itself against the observation spec.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs: list[Any] = [ColSpec(_any_type(), column) for column, _, _ in _leaves(module.observation_spec, Columns.OBS)]
    inputs += [ColSpec(_any_type(), column, required=False) for column, _, _ in _state_leaves(module, Columns.STATE_IN)]
    outputs: list[Any] = [
        ColSpec(_col_type(leaf.dtype, len(leaf.shape)), column)
        for column, _, leaf in _leaves(module.action_spec, Columns.ACTIONS)
    ]
    outputs += [ColSpec("double", name, required=False) for name in (Columns.ACTION_LOGP, Columns.VF_PREDS)]
    outputs += [
        ColSpec(_col_type(value.dtype, value.ndim), column)
        for column, _, value in _state_leaves(module, Columns.STATE_OUT)
    ]
    params = ParamSchema([ParamSpec(name, "boolean", default) for name, default in PARAMS.items()])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def _input_example(module: RLModule) -> pd.DataFrame:
    """Two observations from the spec (zeros, as an env could emit them) with the initial state, as a frame."""
    obs = module.observation_spec.zero((2,))
    frame: dict[str, list[Any]] = {}
    for column, path, _ in _leaves(module.observation_spec, Columns.OBS):
        value = obs.get(path) if path else obs
        if module.catalog is not None and path[:1] == (module.catalog.get_action_mask_key(),):
            value = torch.ones_like(value)  # every action allowed: an all-zero mask allows none
        frame[column] = value.tolist()
    for column, _, value in _state_leaves(module, Columns.STATE_IN):
        frame[column] = value.expand(2, *value.shape).tolist()
    return pd.DataFrame(frame)


def module_requirements(metadata: Mapping[str, Any]) -> list[str]:
    """Return the pip requirements of a module directory's metadata: rl8-core and every plugin package it used.

    Examples:
        >>> module_requirements({"rl8_core_version": "0.1.0", "components": [
        ...     {"distribution": "acme-encoders", "version": "1.2"}, {"distribution": "rl8-core", "version": "0.1.0"}]})
        ['rl8-core==0.1.0', 'acme-encoders==1.2']
    """
    version = metadata.get("rl8_core_version")
    reqs = [f"{BUILTIN_DISTRIBUTION}=={version}" if version not in (None, "unknown") else BUILTIN_DISTRIBUTION]
    for record in [*(metadata.get("components") or []), *(metadata.get("classes") or [])]:
        dist = record.get("distribution")
        if dist in (None, BUILTIN_DISTRIBUTION):
            continue
        req = f"{dist}=={record['version']}" if record.get("version") else str(dist)
        if req not in reqs:
            reqs.append(req)
    return reqs


@contextlib.contextmanager
def _module_directory(module: RLModule | str | Path) -> Iterator[Path]:
    """Yield a module directory for ``module``: the given one, or a temporary one it is saved to."""
    if not isinstance(module, RLModule):
        path = Path(module)
        module_dir.read_metadata(path)  # a CheckpointError now, naming the path, if it is none
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="rl8-model-"))
    try:
        yield module.save_to_path(tmp / MODULE_ARTIFACT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_model(
    module: RLModule | str | Path,
    path: str | Path,
    *,
    mlflow_model: Any = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Save an RLModule (or a module directory) as an MLflow model in the new directory ``path``.

    Signature, input example and pip requirements come from the module
    (observation and action specs, initial state, the plugin packages its
    components came from) unless given.

    Raises:
        CheckpointError: If ``module`` is a path that is not a module directory.
    """
    from mlflow.models import Model

    with _module_directory(module) as directory:
        loaded = module if isinstance(module, RLModule) else RLModule.from_checkpoint(directory)
        meta = module_dir.read_metadata(directory)
        model = mlflow_model if mlflow_model is not None else Model()
        model.add_flavor(
            FLAVOR_NAME,
            module_dir=f"artifacts/{MODULE_ARTIFACT}",
            module_class=meta.get("module_class"),
            rl8_core_version=meta.get("rl8_core_version"),
        )
        with warnings.catch_warnings(), _without_info("mlflow.pyfunc"):
            # MLflow writes the input example with pandas calls that pandas 3 deprecates: not ours to fix.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\.")
            mlflow.pyfunc.save_model(
                str(path),
                python_model=str(Path(__file__).with_name("_mlflow_model.py")),
                artifacts={MODULE_ARTIFACT: str(directory)},
                mlflow_model=model,
                signature=signature if signature is not None else _signature(loaded),
                input_example=input_example if input_example is not None else _input_example(loaded),
                pip_requirements=list(pip_requirements) if pip_requirements is not None else module_requirements(meta),
                extra_pip_requirements=None if extra_pip_requirements is None else list(extra_pip_requirements),
                metadata=dict(metadata) if metadata is not None else None,
            )


@contextlib.contextmanager
def _without_info(name: str) -> Iterator[None]:
    """Hide the INFO lines of MLflow's logger ``name`` for a while (it narrates every save on the terminal)."""
    target = logging.getLogger(name)
    level = target.level
    target.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        target.setLevel(level)


def log_model(
    module: RLModule | str | Path,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    run_id: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log an RLModule (or a module directory) as an MLflow model of a run; optionally register it.

    Args:
        module: The module, or its directory (a checkpoint's ``module``).
        name: Name of the model in the run (``runs:/<run id>/<name>``).
        registered_model_name: Register the model under this name too (``models:/<name>/<version>``).
        run_id: The run to log to; ``None``: the active run (one is started if there is none).
        **kwargs: Passed to ``save_model``.

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``, ...).
    """
    import sys

    from mlflow.models import Model

    if run_id is not None and "model_id" not in kwargs:
        # MLflow 3 files a new logged model under the active experiment (the default one when none is set), not
        # under its run's, and then ``runs:/<run id>/<name>`` finds nothing: create it in the run's experiment.
        client = mlflow.MlflowClient()
        experiment_id = client.get_run(run_id).info.experiment_id
        kwargs["model_id"] = client.create_logged_model(
            experiment_id=experiment_id, name=name, source_run_id=run_id
        ).model_id
    info: ModelInfo = Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        registered_model_name=registered_model_name,
        run_id=run_id,
        module=module,
        **kwargs,
    )
    return info


def load_model(model_uri: str, dst_path: str | None = None, *, map_location: str | torch.device = "cpu") -> RLModule:
    """Load the RLModule of an MLflow model (a path, ``runs:/...``, ``models:/...``) saved by ``save_model``.

    Raises:
        CheckpointError: If the model is not an rl8-core model, or needs a plugin package that is not installed
            (named in the message).
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    local = Path(download_artifacts(artifact_uri=model_uri, dst_path=dst_path))
    conf = Model.load(str(local)).flavors.get(FLAVOR_NAME)
    if conf is None:
        raise CheckpointError(f"{model_uri} is not an rl8-core model (its MLmodel has no {FLAVOR_NAME!r} flavour)")
    return RLModule.from_checkpoint(local / conf["module_dir"], map_location=map_location)


def _bad_input(message: str) -> Exception:
    """An input error as MLflow reports it: an ``MlflowException`` that the scoring server answers with 400."""
    from mlflow.exceptions import MlflowException

    error: Exception = MlflowException.invalid_parameter_value(message)
    return error


def _column_array(frame: pd.DataFrame, column: str, dtype: torch.dtype, shape: Sequence[int]) -> tuple[np.ndarray, int]:
    """Return a column as an array ``[N, *shape]`` or ``[N, T, *shape]``, and ``T`` (0 without a time dim).

    Raises:
        MlflowException: naming the column, for ragged rows, a wrong width or values that are not numbers.
    """
    want = f"one {_shape_text(shape)} per row"
    try:
        array = np.asarray(frame[column].tolist())
    except ValueError:
        raise _bad_input(f"column {column!r}: rows of different lengths; expected {want}") from None
    if array.dtype.kind not in "biuf":
        kind = {"U": "text", "S": "bytes", "M": "dates", "m": "durations"}.get(array.dtype.kind, "objects")
        raise _bad_input(f"column {column!r}: expected numbers ({want}), got {kind}")
    ndim = len(shape)
    if array.shape[1:] == tuple(shape):
        steps = 0
    elif array.ndim == ndim + 2 and array.shape[2:] == tuple(shape):
        steps = array.shape[1]
    else:
        got = list(array.shape[1:]) or "a scalar"
        raise _bad_input(f"column {column!r}: expected {want} (or a sequence of them), got {got}")
    fractional = array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all())
    if not dtype.is_floating_point and fractional:
        raise _bad_input(f"column {column!r}: expected integers ({dtype}), got fractional values")
    return array, steps


class RLModulePythonModel(PythonModel):
    """The pyfunc model of an RLModule: observations in a frame in, actions (and state) in a frame out.

    ``load_context`` restores the module from the ``module`` artifact;
    ``predict`` checks every column against the observation spec, runs
    ``forward_inference`` (or ``forward_exploration`` to sample) and returns
    a frame; the module docstring describes the columns and params.
    """

    module: RLModule
    # No type-hint based input validation by MLflow (and no warning that ``predict`` has no hints): the
    # signature and ``predict`` check the input against the observation spec.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        """Restore the RLModule (a ``CheckpointError`` names a plugin package that is not installed)."""
        self.module = RLModule.from_checkpoint(context.artifacts[MODULE_ARTIFACT]).eval()

    # ``model_input`` has no annotation on purpose: MLflow reads the annotation as a schema to enforce.
    def predict(self, context: Any, model_input, params: Mapping[str, Any] | None = None) -> pd.DataFrame:  # type: ignore[no-untyped-def]  # noqa: ANN001
        """Act on ``model_input``: a DataFrame, or a dict of arrays ``[B, ...]`` or ``[B, T, ...]``."""
        chosen = {**PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}
        unknown = sorted(set(chosen) - set(PARAMS))
        if unknown:
            raise _bad_input(f"unknown params {unknown}; the params are {sorted(PARAMS)}")
        frame = model_input if isinstance(model_input, pd.DataFrame) else _frame(model_input)
        obs, state, steps = self._read(frame)
        with torch.inference_mode():
            if steps == 0:
                out = self._act(obs, state, chosen)
            elif state is None:  # feed-forward: every step of every sequence at once
                out = self._act(obs.reshape(-1), None, chosen)
            else:  # stateful: step through the sequences, carrying each row's state
                outs = []
                for t in range(steps):
                    outs.append(self._act(obs[:, t], state, chosen))
                    state = outs[-1].get(Columns.STATE_OUT)
                out = TensorDict.stack(outs, dim=1).reshape(-1)
        return _output_frame(self.module, out, chosen)

    def _read(self, frame: pd.DataFrame) -> tuple[TensorDictBase, TensorDictBase | None, int]:
        """Check and read every column: observations ``[N]`` or ``[N, T]``, ``state_in`` ``[N]`` and ``T``."""
        module = self.module
        obs_leaves = _leaves(module.observation_spec, Columns.OBS)
        missing = [column for column, _, _ in obs_leaves if column not in frame.columns]
        if missing:
            raise _bad_input(f"missing observation column(s) {missing}; the model reads {input_columns(module)}")
        leaves, lengths = {}, {}
        for column, path, leaf in obs_leaves:
            array, steps = _column_array(frame, column, leaf.dtype, leaf.shape)
            raw = torch.as_tensor(array)
            value = raw.to(leaf.dtype)
            # Integer leaves (indices, pixels) must hold their values exactly and in bounds: a cast that wraps
            # 300 to 44 would act on another observation. Float observations may leave their bounds.
            if not leaf.dtype.is_floating_point and not (
                torch.equal(value.to(raw.dtype), raw) and leaf.contains(value.reshape(-1, *leaf.shape))
            ):
                raise _bad_input(f"column {column!r}: values outside {leaf!r}")
            leaves[path] = value
            lengths[column] = steps
        if len(set(lengths.values())) > 1:
            each = ", ".join(f"{c!r} {f'a sequence of {t}' if t else 'one step'}" for c, t in lengths.items())
            raise _bad_input(f"the observation columns disagree on steps per row: {each}")
        steps = next(iter(lengths.values()))
        batch_size = [len(frame), steps] if steps else [len(frame)]
        obs = TensorDict({}, batch_size=batch_size)
        for path, value in leaves.items():
            obs.set((Columns.OBS, *path), value)
        return obs, self._read_state(frame), steps

    def _read_state(self, frame: pd.DataFrame) -> TensorDictBase | None:
        """Return ``state_in`` from its columns, the initial state if none is given, ``None`` without memory."""
        if not self.module.is_stateful:
            return None
        columns = _state_leaves(self.module, Columns.STATE_IN)
        given = [column for column, _, _ in columns if column in frame.columns]
        state = self.module.initial_state(len(frame))
        if not given:
            return state
        if len(given) < len(columns):
            absent = [column for column, _, _ in columns if column not in frame.columns]
            raise _bad_input(
                f"state column(s) {absent} missing while {given} are given: send every state_in column "
                "(the previous answer's state_out) or none (an episode's first step)"
            )
        for column, path, initial in columns:
            array, steps = _column_array(frame, column, initial.dtype, initial.shape)
            if steps:
                raise _bad_input(f"column {column!r}: a state is one {_shape_text(initial.shape)} per row")
            state.set(path, torch.as_tensor(array).to(initial.dtype))
        return state

    def _act(self, obs: TensorDictBase, state: TensorDictBase | None, chosen: Mapping[str, Any]) -> TensorDictBase:
        """One step for a batch ``[N]``: actions, the requested extras and ``state_out``."""
        module = self.module
        batch = obs.clone(False)
        if state is not None:
            batch.set(Columns.STATE_IN, state)
        out = (module.forward_inference if chosen["deterministic"] else module.forward_exploration)(batch)
        result = TensorDict({Columns.ACTIONS: out.get(Columns.ACTIONS)}, batch_size=batch.batch_size)
        if chosen[Columns.ACTION_LOGP]:
            if Columns.ACTION_LOGP in out:
                result.set(Columns.ACTION_LOGP, out.get(Columns.ACTION_LOGP))
            elif Columns.ACTION_DIST_INPUTS in out:
                dist = module.make_action_dist(out.get(Columns.ACTION_DIST_INPUTS))
                result.set(Columns.ACTION_LOGP, dist.logp(out.get(Columns.ACTIONS)))
            else:
                raise _bad_input(f"{type(module).__name__} returns no action distribution: action_logp is unavailable")
        if chosen[Columns.VF_PREDS]:
            values = out if Columns.VF_PREDS in out else module.forward_exploration(batch)
            if Columns.VF_PREDS not in values:
                raise _bad_input(f"{type(module).__name__} computes no values: vf_preds is unavailable")
            result.set(Columns.VF_PREDS, values.get(Columns.VF_PREDS))
        if state is not None:
            result.set(Columns.STATE_OUT, out.get(Columns.STATE_OUT))
        return result


def _shape_text(shape: Sequence[int]) -> str:
    return f"{list(shape)} array" if len(shape) else "scalar"


def _frame(data: Any) -> pd.DataFrame:
    """A dict of arrays ``{column: [B, ...]}`` as a frame with one row per ``b``."""
    if not isinstance(data, Mapping):
        raise _bad_input(f"expected a DataFrame or a dict of arrays, got {type(data).__name__}")
    columns = {str(k): list(np.asarray(v)) for k, v in data.items()}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise _bad_input(f"the arrays disagree on the batch size: {lengths}")
    return pd.DataFrame(columns)


def _output_frame(module: RLModule, out: TensorDictBase, chosen: Mapping[str, Any]) -> pd.DataFrame:
    """One row per observation: action columns, then ``action_logp``/``vf_preds`` if asked, then ``state_out``."""
    columns: dict[str, Any] = {}
    for column, path, _ in _leaves(module.action_spec, Columns.ACTIONS):
        columns[column] = _cells(out.get((Columns.ACTIONS, *path)) if path else out.get(Columns.ACTIONS))
    for name in (Columns.ACTION_LOGP, Columns.VF_PREDS):
        if chosen[name]:
            columns[name] = out.get(name).double().numpy()
    for column, path, _ in _state_leaves(module, Columns.STATE_OUT):
        columns[column] = _cells(out.get((Columns.STATE_OUT, *path)))
    return pd.DataFrame(columns)


def _cells(value: torch.Tensor) -> Any:
    """A column's values: an array for scalars per row, else one (nested) list per row."""
    array = value.detach().cpu().numpy()
    return array if array.ndim == 1 else array.tolist()
