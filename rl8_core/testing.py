"""Helpers for testing plugins: a fresh registry and contract checks for components.

Plugin authors use these in their own test suites (no pytest or hypothesis
needed); rl8-core runs the same checks over every registered component.

Examples:
    >>> import torch
    >>> from rl8_core import Encoder, FlattenObs, hookimpl
    >>> class Flat(Encoder):
    ...     def __init__(self, observation_spec):
    ...         super().__init__(observation_spec)
    ...         self.flatten = FlattenObs(observation_spec)
    ...         self.output_dim = self.flatten.output_dim
    ...     def forward(self, obs):
    ...         return self.flatten(obs)
    >>> class AcmePlugin:
    ...     @hookimpl
    ...     def rl8_encoders(self):
    ...         return {"acme_flat": Flat}
    >>> with fresh_registry(plugins=[AcmePlugin()]) as registry:
    ...     registry.get("encoder", "acme_flat") is Flat
    True
    >>> len(check_encoder(Flat))  # every example spec but the composites
    8
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import cloudpickle
import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns
from rl8_core.components.algorithm import Algorithm, check_train_outputs
from rl8_core.components.distribution import Distribution, action_value_count, every_action_value
from rl8_core.components.encoder import Encoder, FlattenObs, RecurrentEncoder
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModule
from rl8_core.components.multi_env import ALL_DONE, MultiAgentBatchedEnv, check_agent_ids
from rl8_core.errors import ConfigError, PluginError
from rl8_core.imports import BUILTIN_DISTRIBUTION
from rl8_core.plugins.registry import Registry, get_registry, using_registry
from rl8_core.training.learner import Learner, LearnerConfig
from rl8_core.training.runner import Runner
from rl8_core.training.setup import default_module_of
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec, SpecError

__all__ = [
    "check_algorithm",
    "check_distribution",
    "check_encoder",
    "check_env",
    "example_action_specs",
    "example_observation_specs",
    "fresh_registry",
    "install_packages",
]

#: Batch size ``b`` of the random batches the checks run.
BATCH_SIZE = 4
#: Seed of parameter initialisation and random batches (the global RNG state is restored).
SEED = 0

Specs = Iterable[Spec] | Mapping[str, Spec] | None
#: A leaf's distribution class and its options, as in the ``leaves`` option of a
#: distribution with ``takes_leaf_dists``.
LeafDist = tuple[type[Distribution], Mapping[str, Any]]


@contextmanager
def fresh_registry(plugins: Iterable[object] = (), *, entry_points: bool = False) -> Iterator[Registry]:
    """Install a new ``Registry`` as the process-wide one; restore the previous one on exit.

    Args:
        plugins: Plugin objects (modules or instances with ``@hookimpl``
            functions) to register in-process.
        entry_points: Also load the ``rl8`` entry-point group (the built-ins and
            every installed plugin). Off by default so that a test sees only
            what it registers.

    Yields:
        The new registry; ``get_registry()`` returns it inside the block.

    Raises:
        PluginError: If one of ``plugins`` fails to register (the reason says why).

    Examples:
        >>> from rl8_core import get_registry
        >>> with fresh_registry() as registry:
        ...     get_registry() is registry, registry.names("encoder")
        (True, [])
        >>> get_registry() is registry
        False
    """
    registry = Registry(load_entry_points=entry_points)
    for plugin in plugins:
        info = registry.register_plugin(plugin)
        if info.status == "failed":
            raise PluginError(f"plugin {info.name!r} failed to register: {info.reason}")
    with using_registry(registry):
        yield registry


def install_packages(sources: Sequence[str | Path], target: str | Path) -> None:
    """``pip install`` the package directories ``sources`` into ``target`` (a ``--target`` site).

    For testing discovery through entry points exactly as a user's install
    would: put ``target`` on ``sys.path`` (or ``PYTHONPATH``) and the packages'
    ``rl8`` entry points are found. pip builds from temporary copies, so
    setuptools' ``build/`` and ``*.egg-info`` never land next to the sources;
    no index is consulted and dependencies are not installed.

    Raises:
        RuntimeError: If pip fails; the message holds the command and pip's output.

    Example (in a plugin's test suite; pip takes a few seconds)::

        install_packages(["."], tmp_path / "site")
        sys.path.insert(0, str(tmp_path / "site"))
    """
    with tempfile.TemporaryDirectory(prefix="rl8-install-") as tmp:
        copies = []
        for i, source in enumerate(sources):
            copy = Path(tmp) / f"{i}-{Path(source).name}"
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
            copies.append(str(copy))
        cmd = [
            sys.executable,
            *("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir"),
            *("--disable-pip-version-check", "--no-input", "--quiet", "--target", str(target)),
            *copies,
        ]
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pip could not install {', '.join(map(str, sources))} (exit {proc.returncode}):\n"
            f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
        )


def example_observation_specs() -> dict[str, Spec]:
    """Return fresh example observation specs by label, one of each kind an encoder may meet.

    Box vectors (unbounded and bounded), a matrix, an ``uint8`` image in
    gymnasium's ``[h, w, c]`` layout, ``Discrete`` (with and without
    ``start``), ``MultiDiscrete``, ``MultiBinary``, and flat and nested
    ``Composite`` specs.

    Examples:
        >>> sorted(example_observation_specs())[:3]
        ['box_bounded', 'box_matrix', 'box_vector']
    """
    return {
        "box_vector": Box((4,)),
        "box_bounded": Box((3,), low=-1.0, high=1.0),
        "box_matrix": Box((2, 3)),
        "image": Box((48, 48, 3), low=0, high=255, dtype=torch.uint8),
        "discrete": Discrete(5),
        "discrete_start": Discrete(3, start=1),
        "multi_discrete": MultiDiscrete([2, 3]),
        "multi_binary": MultiBinary(4),
        "composite": Composite({"pos": Box((2,)), "mode": Discrete(3)}),
        "nested_composite": Composite({"agent": {"pos": Box((2,)), "flags": MultiBinary(2)}, "goal": Box((2,))}),
    }


def example_action_specs() -> dict[str, Spec]:
    """Return fresh example action specs by label, one of each kind a distribution may serve.

    Examples:
        >>> example_action_specs()["discrete_start"]
        Discrete(3, start=1)
    """
    return {
        "box_vector": Box((2,)),
        "box_bounded": Box((3,), low=-1.0, high=1.0),
        "box_matrix": Box((2, 2)),
        "discrete": Discrete(4),
        "discrete_start": Discrete(3, start=1),
        "multi_discrete": MultiDiscrete([2, 3]),
        "multi_binary": MultiBinary(3),
        "composite": Composite({"move": Box((2,), low=-1.0, high=1.0), "fire": Discrete(2)}),
    }


def check_encoder(encoder: Callable[..., Encoder], specs: Specs = None, **config: Any) -> list[Spec]:
    """Check an encoder class or factory against the ``Encoder`` contract.

    For each observation spec (default: ``example_observation_specs()``) the
    encoder is built as ``encoder(spec, **config)``; a spec it rejects with
    ``TypeError`` or ``ValueError`` is skipped. For each one it accepts:

    * the result is an ``Encoder`` with a positive ``int`` ``output_dim``;
    * a random batch of ``b`` observations gives float features
      ``[b, output_dim]``, all finite, and leaves the observations unchanged;
    * gradients reach its parameters (if it has any);
    * features have the default dtype (``torch.get_default_dtype()``, float32
      unless changed), the only one the heads accept;
    * batch elements do not mix: in train mode, row 0 is unchanged when the
      other rows change (a BatchNorm-like layer fails; dropout-like randomness
      is seeded alike), and in eval mode it equals the output for a batch of one;
    * a cloudpickle round trip gives an encoder with equal outputs;
    * a ``RecurrentEncoder`` (memory) also keeps the state contract: its
      initial state is a non-empty TensorDict for one env, states keep their
      shapes and dtypes, and ``forward_sequence`` equals ``forward_step`` step by step.

    An encoder class with ``takes_inner_encoder`` gets, unless ``config``
    names one, an ``inner`` encoder of the leaf spec's flattened features.

    Args:
        encoder: An ``Encoder`` subclass or a factory returning one.
        specs: Observation specs, or a mapping from labels to specs.
        **config: Keyword options passed to ``encoder``.

    Returns:
        The specs the encoder accepted, in order.

    Raises:
        AssertionError: Naming the encoder, the spec and the broken rule; also
            if the encoder accepts none of the specs.

    Examples:
        >>> from specs import Box
        >>> from rl8_core import Encoder, build_mlp
        >>> class Linear(Encoder):
        ...     def __init__(self, observation_spec, *, width=8):
        ...         if not isinstance(observation_spec, Box):
        ...             raise TypeError("Linear needs a Box")
        ...         super().__init__(observation_spec)
        ...         self.output_dim = width
        ...         self.net = build_mlp(observation_spec.numel, [width])
        ...     def forward(self, obs):
        ...         return self.net(obs.flatten(1).float())
        >>> check_encoder(Linear, [Box((3,)), Discrete(2)], width=4)
        [Box((3,), low=-inf, high=inf, dtype=torch.float32)]
    """
    name = _name(encoder)
    accepted: list[Spec] = []
    rejected: list[str] = []
    for label, spec in _labelled(specs, example_observation_specs):
        where = f"encoder {name} on {label}"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            try:
                options = dict(config)
                if getattr(encoder, "takes_inner_encoder", False) and "inner" not in options:
                    options["inner"] = _FlatInner(spec)
                built = encoder(spec, **options)
            except (TypeError, ValueError) as exc:
                rejected.append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            _check_one_encoder(built, spec, where)
            if isinstance(built, RecurrentEncoder):
                _check_recurrent(built, spec, where)
        accepted.append(spec)
    if not accepted:
        raise AssertionError(f"encoder {name} accepted none of the specs: " + "; ".join(rejected))
    return accepted


class _FlatInner(Encoder):
    """The inner encoder ``check_encoder`` gives an encoder that takes one: a leaf's flattened features."""

    def __init__(self, observation_spec: Spec) -> None:
        super().__init__(observation_spec)
        self.flatten = FlattenObs(observation_spec)  # TypeError for a Composite: the spec is skipped
        self.output_dim = self.flatten.output_dim

    def forward(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor:
        assert isinstance(obs, torch.Tensor)
        out: torch.Tensor = self.flatten(obs)
        return out


def _check_recurrent(encoder: RecurrentEncoder, spec: Spec, where: str) -> None:
    """A memory encoder's state contract: one env's initial state, and sequences equal to steps."""
    initial = _call(where, "get_initial_state", encoder.get_initial_state)
    _require(
        isinstance(initial, TensorDictBase) and initial.batch_dims == 0 and len(initial.keys()) > 0,
        where,
        f"get_initial_state must return a non-empty TensorDict with batch_size [], got {initial!r}",
    )
    t = 5
    obs = spec.rand((BATCH_SIZE, t), generator=torch.Generator().manual_seed(SEED))
    state = initial.expand(BATCH_SIZE).clone()
    encoder.eval()
    with torch.no_grad():
        features, after = _call(where, "forward_sequence", lambda: encoder.forward_sequence(obs, state))
        _require(
            isinstance(features, torch.Tensor) and features.shape == (BATCH_SIZE, t, encoder.output_dim),
            where,
            f"forward_sequence must return features [b, t, output_dim] = {[BATCH_SIZE, t, encoder.output_dim]}, "
            f"got {_describe(features)}",
        )
        _require(
            isinstance(after, TensorDictBase) and set(after.keys(True, True)) == set(initial.keys(True, True)),
            where,
            "forward_sequence must return the next state with the initial state's keys",
        )
        for key in initial.keys(True, True):
            want, got = initial.get(key), after.get(key)
            _require(
                got.shape == (BATCH_SIZE, *want.shape) and got.dtype == want.dtype,
                where,
                f"state entry {key!r} must stay [b, {', '.join(map(str, want.shape))}] {want.dtype}, "
                f"got {list(got.shape)} {got.dtype}",
            )
        stepped = []
        for i in range(t):
            step, state = _call(where, "forward_step", partial(encoder.forward_step, obs[:, i], state))
            stepped.append(step)
    # A fused kernel over t steps sums in another order than t single steps: float32 noise, not a bug.
    _require_close(
        torch.stack(stepped, 1),
        features,
        where,
        "forward_sequence differs from forward_step step by step",
        rtol=1e-3,
        atol=1e-4,
    )


def _check_one_encoder(encoder: Any, spec: Spec, where: str) -> None:
    _require(isinstance(encoder, Encoder), where, f"built a {type(encoder).__name__}, not an Encoder")
    dim = getattr(encoder, "output_dim", None)
    if not (isinstance(dim, int) and not isinstance(dim, bool) and dim > 0):
        raise AssertionError(f"{where}: output_dim must be a positive int, got {dim!r}")
    obs = spec.rand((BATCH_SIZE,), generator=torch.Generator().manual_seed(SEED))
    before = obs.clone()
    out = _call(where, "forward", lambda: encoder(obs))
    _require_features(out, (BATCH_SIZE, dim), where)
    _require(_equal(obs, before), where, "forward changed its input observations in place")

    params = [p for p in encoder.parameters() if p.requires_grad]
    if params and out.requires_grad:
        grads = torch.autograd.grad(out.sum(), params, allow_unused=True)
        used = [g for g in grads if g is not None]
        _require(bool(used), where, "no gradient reaches the encoder's parameters")
        _require(all(bool(torch.isfinite(g).all()) for g in used), where, "gradients are not finite")
    elif params:
        _require(False, where, "the output does not require grad although the encoder has trainable parameters")

    # Train mode: a BatchNorm-like layer mixes rows only here. Row 0 must not see the other rows;
    # the same seed before both calls gives dropout-like layers the same masks (same shapes).
    other = spec.rand((BATCH_SIZE,), generator=torch.Generator().manual_seed(SEED + 1))
    changed = obs.clone()
    changed[1:] = other[1:]
    encoder.train()
    with torch.no_grad():
        torch.manual_seed(SEED)
        train_out = _call(where, "forward in train mode", lambda: encoder(obs))
        torch.manual_seed(SEED)
        train_changed = _call(where, "forward in train mode", lambda: encoder(changed))
    _require_close(
        train_changed[:1],
        train_out[:1],
        where,
        "in train mode, row 0 of the features changes when the other rows of the batch change "
        "(batch elements mix, e.g. through BatchNorm)",
    )

    encoder.eval()
    with torch.no_grad():
        full = encoder(obs)
        first = _call(where, "forward on a batch of one", lambda: encoder(obs[:1]))
        _require_features(first, (1, dim), where)
        _require_close(first, full[:1], where, "row 0 of a batch differs from the same observation alone")
        clone = _call(where, "cloudpickle round trip", lambda: cloudpickle.loads(cloudpickle.dumps(encoder)))
        _require_close(clone(obs), full, where, "a cloudpickle round trip changed the outputs")


def check_distribution(
    dist_cls: type[Distribution],
    specs: Specs = None,
    *,
    leaf_dists: Callable[[Spec], LeafDist] | None = None,
    **config: Any,
) -> list[Spec]:
    """Check a ``Distribution`` subclass against the distribution contract.

    For each action spec (default: ``example_action_specs()``) that
    ``supports`` accepts and ``required_inputs`` does not reject with
    ``TypeError`` or ``ValueError``, it builds ``dist_cls(inputs, spec, **config)``
    from random inputs ``[b, required_inputs]`` and checks that:

    * ``required_inputs`` and ``state_independent_inputs`` are consistent ints,
      and the class builds from exactly that many inputs;
    * ``sample()`` and ``deterministic_sample()`` belong to the spec (shape,
      dtype and values; float ``Box`` bounds are not enforced, since Gaussian
      policies sample outside them and the runner clips), and
      ``deterministic_sample()`` is deterministic;
    * ``logp`` and ``entropy`` are finite floats ``[b]``, and ``logp`` is
      differentiable in the inputs (as is ``rsample`` where ``has_rsample``);
    * every valid action has a finite ``logp``: each value of each
      ``Discrete``, ``MultiDiscrete`` and ``MultiBinary`` leaf (a categorical
      with fewer logits than actions fails);
    * ``kl`` with itself is ``[b]`` and about 0, and never negative with
      another distribution;
    * row 0 of a batch equals a batch of one, and a cloudpickle round trip
      gives equal ``logp``, ``entropy`` and ``deterministic_sample``.

    Args:
        dist_cls: The distribution class.
        specs: Action specs, or a mapping from labels to specs.
        leaf_dists: For a class with ``takes_leaf_dists`` and a ``Composite``
            spec, when ``config`` has no ``leaves``: gives ``(class, options)``
            for each leaf spec, and the check passes them as the ``leaves``
            option (dotted path -> pair), as a catalog would. Default: the
            first distribution in ``get_registry()`` that supports the leaf
            (rl8-core's built-ins first, then by name), without options; a
            composite with a leaf nothing supports is skipped.
        **config: Keyword options passed to ``required_inputs`` and the constructor.

    Returns:
        The specs the distribution accepted, in order.

    Raises:
        AssertionError: Naming the class, the spec and the broken rule; also if
            the class accepts none of the specs.

    Examples:
        >>> from specs import Discrete
        >>> class Cat(Distribution):
        ...     @classmethod
        ...     def required_inputs(cls, action_spec, **config):
        ...         if not isinstance(action_spec, Discrete):
        ...             raise TypeError("Cat needs a Discrete action spec")
        ...         return action_spec.n
        ...     def __init__(self, inputs, action_spec):
        ...         super().__init__(inputs, action_spec)
        ...         self.d = torch.distributions.Categorical(logits=inputs)
        ...     def sample(self):
        ...         return self.d.sample() + self.action_spec.start
        ...     def deterministic_sample(self):
        ...         return self.d.logits.argmax(-1) + self.action_spec.start
        ...     def logp(self, actions):
        ...         return self.d.log_prob(actions - self.action_spec.start)
        ...     def entropy(self):
        ...         return self.d.entropy()
        ...     def kl(self, other):
        ...         return torch.distributions.kl_divergence(self.d, other.d)
        >>> check_distribution(Cat)
        [Discrete(4), Discrete(3, start=1)]
    """
    name = _name(dist_cls)
    accepted: list[Spec] = []
    rejected: list[str] = []
    for label, spec in _labelled(specs, example_action_specs):
        where = f"distribution {name} on {label}"
        if not dist_cls.supports(spec):
            rejected.append(f"{label}: supports() is False")
            continue
        spec_config = config
        if dist_cls.takes_leaf_dists and isinstance(spec, Composite) and "leaves" not in config:
            try:
                leaves = {".".join(path): (leaf_dists or _registered_leaf_dist)(leaf) for path, leaf in spec.leaves()}
            except LookupError as exc:
                rejected.append(f"{label}: {exc}")
                continue
            spec_config = {**config, "leaves": leaves}
        try:
            n = dist_cls.required_inputs(spec, **spec_config)
        except (TypeError, ValueError) as exc:
            rejected.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            _check_one_distribution(dist_cls, spec, n, spec_config, where)
        accepted.append(spec)
    if not accepted:
        raise AssertionError(f"distribution {name} accepted none of the specs: " + "; ".join(rejected))
    return accepted


#: Fewest steps ``check_env`` runs, even when an episode ends sooner.
MIN_ENV_STEPS = 8
#: The keys every ``BatchedEnv.step`` result holds.
STEP_KEYS = (Columns.OBS, Columns.NEXT_OBS, Columns.REWARDS, Columns.TERMINATEDS, Columns.TRUNCATEDS)


def check_env(
    factory: Callable[..., BatchedEnv],
    *,
    num_envs: int = 4,
    seed: int = SEED,
    max_steps: int = 1000,
    **env_config: Any,
) -> int:
    """Check an env class or factory against the ``BatchedEnv`` contract.

    The env is built as ``factory(num_envs=num_envs, seed=seed, device="cpu",
    **env_config)`` and stepped with random actions from its ``action_spec``
    until some episode has ended (at least ``MIN_ENV_STEPS`` steps, at most
    ``max_steps``). It checks that:

    * it is a ``BatchedEnv`` with ``num_envs`` envs and ``Spec`` s;
    * ``reset`` gives ``obs`` in ``observation_spec`` for the batch ``[n]``;
    * every ``step`` gives ``obs`` and ``next_obs`` in the spec, ``rewards``
      float32 ``[n]`` (finite), ``terminateds`` and ``truncateds`` bool ``[n]``
      (either or both may be set when an episode ends);
    * finished envs reset inside ``step``: ``obs`` equals ``next_obs`` where
      neither flag is set (an env that resets without a flag fails), and differs
      from it in some ended episode;
    * the same seed and actions give the same trajectory (a second env);
    * where ``state_dict()`` is not ``None``, a third env (another seed) that
      loads a state saved mid-way continues with the same steps;
    * tensors returned by ``reset`` and ``step`` are not written into later.

    Args:
        factory: A ``BatchedEnv`` subclass or a factory returning one (what an
            ``rl8_envs`` hook registers).
        num_envs: Envs stepped together.
        seed: Seed given to the factory.
        max_steps: Give up (and fail) if no episode ends within this many steps.
        **env_config: Keyword options passed to ``factory``.

    Returns:
        The number of episodes that ended while stepping.

    Raises:
        AssertionError: Naming the env, the broken rule and what was expected.

    Examples:
        >>> from rl8_core import get_registry
        >>> check_env(get_registry().get("env", "cartpole")) > 0
        True
    """
    where = f"env {_name(factory)}"
    envs: list[BatchedEnv | MultiAgentBatchedEnv] = []

    def build(env_seed: int) -> Any:
        env = _call(
            where,
            "building",
            lambda: factory(num_envs=num_envs, seed=env_seed, device="cpu", **env_config),
        )
        if not isinstance(env, (BatchedEnv, MultiAgentBatchedEnv)):
            raise AssertionError(f"{where}: built a {type(env).__name__}, not a BatchedEnv or MultiAgentBatchedEnv")
        envs.append(env)
        return env

    with torch.random.fork_rng(devices=[]):
        # Seeded once: an env drawing from the global RNG gives two different trajectories below.
        torch.manual_seed(SEED)
        try:
            env = build(seed)
            if isinstance(env, MultiAgentBatchedEnv):
                return _check_multi_agent_env(env, build, num_envs, seed, max_steps, where)
            return _check_env(env, build, num_envs, seed, max_steps, where)
        finally:
            for env in envs:
                env.close()


def _check_multi_agent_env(
    env: MultiAgentBatchedEnv, build: Callable[[int], Any], n: int, seed: int, max_steps: int, where: str
) -> int:
    """The ``MultiAgentBatchedEnv`` half of ``check_env``: ids, specs, every output, seeding and state."""
    _require(env.num_envs == n, where, f"num_envs is {env.num_envs!r}, expected {n}")
    try:
        agents = check_agent_ids(env.agents, what="agents")
    except ValueError as exc:
        raise AssertionError(f"{where}: {exc}") from None
    for attr in ("observation_specs", "action_specs"):
        specs = getattr(env, attr, None)
        _require(
            isinstance(specs, Mapping)
            and set(specs) == set(agents)
            and all(isinstance(v, Spec) for v in specs.values()),
            where,
            f"{attr} must map every agent of {list(agents)} to a Spec, got {specs!r}",
        )

    def checked(result: Any, what: str, method: str) -> Any:
        try:
            env.check_output(result, method=method)
        except SpecError as exc:
            raise AssertionError(f"{where}: {what}: {exc}") from None
        return result

    copies = [checked(_call(where, "reset()", env.reset), "reset()", "reset").clone()]
    gen = torch.Generator().manual_seed(seed)
    actions: list[TensorDict] = []
    ended = 0
    for t in range(max_steps):
        action = TensorDict({a: env.action_specs[a].rand((n,), generator=gen) for a in agents}, [n])
        actions.append(action.clone())
        result = checked(_call(where, f"step {t}", partial(env.step, action)), f"step {t}", "step")
        _require(
            bool(torch.isfinite(torch.stack([result.get((a, Columns.REWARDS)) for a in agents])).all()),
            where,
            f"step {t}: rewards are not finite",
        )
        ended += int(result.get(ALL_DONE).sum())
        copies.append(result.clone())
        if ended and t + 1 >= MIN_ENV_STEPS:
            break
    else:
        raise AssertionError(f"{where}: no copy's episode ended ({ALL_DONE!r}) in {max_steps} steps of random actions")
    twin = build(seed)
    _require(
        _first_difference(_call(where, "reset()", twin.reset), copies[0]) is None,
        where,
        f"two envs built with seed={seed} gave different reset observations",
    )
    middle, saved = len(actions) // 2, None
    for t, action in enumerate(actions):
        if t == middle:
            state = _call(where, "state_dict()", twin.state_dict)
            saved = None if state is None else copy.deepcopy(state)
        key = _first_difference(_call(where, f"step {t}", partial(twin.step, action.clone())), copies[t + 1])
        _require(key is None, where, f"two envs with seed={seed} and the same actions differ in {key!r} at step {t}")
    if saved is not None:
        resumed = build(seed + 1)
        _call(where, "reset()", resumed.reset)
        _call(where, "load_state_dict(state_dict())", lambda: resumed.load_state_dict(saved))
        for t in range(middle, len(actions)):
            result = _call(where, f"step {t} after load_state_dict", partial(resumed.step, actions[t].clone()))
            key = _first_difference(result, copies[t + 1])
            _require(key is None, where, f"after load_state_dict, step {t} differs in {key!r}")
    return ended


def _check_env(env: BatchedEnv, build: Callable[[int], Any], n: int, seed: int, max_steps: int, where: str) -> int:
    _require(env.num_envs == n, where, f"num_envs is {env.num_envs!r}, expected {n}")
    for attr in ("observation_spec", "action_spec"):
        value = getattr(env, attr, None)
        _require(isinstance(value, Spec), where, f"{attr} is {value!r}, not a Spec")
    reset = _call(where, "reset()", env.reset)
    _require_batch(reset, n, where, "reset()")
    _require(Columns.OBS in reset, where, "reset() returned no 'obs'")
    _require_obs(reset.get(Columns.OBS), env, where, "reset()['obs']")
    kept = [reset]
    copies = [reset.clone()]

    gen = torch.Generator().manual_seed(seed)
    actions: list[Any] = []
    ended = resets = 0
    for t in range(max_steps):
        action = env.action_spec.rand((n,), generator=gen)
        actions.append(action.clone())
        result = _call(where, f"step {t}", partial(env.step, action))
        done = _check_step(result, env, where, f"step {t}")
        ended += int(done.sum())
        resets += int((done & ~_rows_equal(result.get(Columns.OBS), result.get(Columns.NEXT_OBS))).sum())
        kept.append(result)
        copies.append(result.clone())
        if ended and t + 1 >= MIN_ENV_STEPS:
            break
    else:
        raise AssertionError(
            f"{where}: no episode ended in {max_steps} steps of random actions, so resets inside step cannot be "
            "checked; pass a larger max_steps or an env_config with a shorter time limit"
        )
    _require(
        resets > 0,
        where,
        f"obs equals next_obs in all {ended} ended episodes: finished envs must reset inside step "
        "(obs the reset observation, next_obs the final one)",
    )
    for t, (result, copy_) in enumerate(zip(kept, copies, strict=True)):
        what = "reset()" if t == 0 else f"step {t - 1}"
        key = _first_difference(result, copy_)
        _require(
            key is None,
            where,
            f"{what}'s {key!r} was written into after it was returned: allocate new tensors each step",
        )

    steps = len(actions)
    middle = steps // 2
    twin = build(seed)
    _require(
        _first_difference(_call(where, "reset()", twin.reset), copies[0]) is None,
        where,
        f"two envs built with seed={seed} gave different reset observations",
    )
    saved: dict[str, Any] | None = None
    for t, action in enumerate(actions):
        if t == middle:
            state = _call(where, "state_dict()", twin.state_dict)
            saved = None if state is None else copy.deepcopy(state)
        key = _first_difference(_call(where, f"step {t}", partial(twin.step, action.clone())), copies[t + 1])
        _require(
            key is None,
            where,
            f"two envs built with seed={seed} and given the same actions differ in {key!r} at step {t}: "
            "draw randomness only from a generator seeded by the env's seed",
        )
    if saved is not None:
        resumed = build(seed + 1)
        _call(where, "reset()", resumed.reset)
        _call(where, "load_state_dict(state_dict())", lambda: resumed.load_state_dict(saved))
        for t in range(middle, steps):
            result = _call(where, f"step {t} after load_state_dict", partial(resumed.step, actions[t].clone()))
            key = _first_difference(result, copies[t + 1])
            _require(
                key is None,
                where,
                f"after load_state_dict of a state saved at step {middle}, step {t} differs in {key!r} "
                "from the uninterrupted run: state_dict must hold everything needed to continue",
            )
    return ended


def _require_batch(result: Any, n: int, where: str, what: str) -> None:
    _require(isinstance(result, TensorDictBase), where, f"{what} returned {type(result).__name__}, not a TensorDict")
    _require(
        tuple(result.batch_size) == (n,),
        where,
        f"{what} has batch size {list(result.batch_size)}, expected [{n}]",
    )


def _require_obs(obs: Any, env: BatchedEnv, where: str, what: str) -> None:
    try:
        env.observation_spec.validate(obs, batch_shape=(env.num_envs,))
    except ValueError as exc:  # SpecError, naming the leaf and the value
        raise AssertionError(f"{where}: {what} does not belong to the observation spec: {exc}") from None


def _check_step(result: Any, env: BatchedEnv, where: str, what: str) -> torch.Tensor:
    """Check one step result; return which envs ended ``[n]`` (bool)."""
    n = env.num_envs
    _require_batch(result, n, where, what)
    missing = [key for key in STEP_KEYS if key not in result]
    _require(not missing, where, f"{what} returned no {', '.join(map(repr, missing))}")
    obs, next_obs = result.get(Columns.OBS), result.get(Columns.NEXT_OBS)
    _require_obs(obs, env, where, f"{what}['obs']")
    _require_obs(next_obs, env, where, f"{what}['next_obs']")
    rewards = result.get(Columns.REWARDS)
    _require(
        isinstance(rewards, torch.Tensor) and tuple(rewards.shape) == (n,) and rewards.dtype == torch.float32,
        where,
        f"{what}['rewards'] is {_describe(rewards)}, expected float32 [{n}]",
    )
    _require(bool(torch.isfinite(rewards).all()), where, f"{what}['rewards'] is not finite: {rewards.tolist()}")
    flags = []
    for key in (Columns.TERMINATEDS, Columns.TRUNCATEDS):
        flag = result.get(key)
        _require(
            isinstance(flag, torch.Tensor) and tuple(flag.shape) == (n,) and flag.dtype == torch.bool,
            where,
            f"{what}[{key!r}] is {_describe(flag)}, expected bool [{n}]",
        )
        flags.append(flag)
    _require(
        flags[0] is not flags[1],
        where,
        f"{what}: terminateds and truncateds are one tensor; keep the two ways an episode ends apart",
    )
    done: torch.Tensor = flags[0] | flags[1]
    moved = ~_rows_equal(obs, next_obs) & ~done
    _require(
        not bool(moved.any()),
        where,
        f"{what}: obs differs from next_obs in envs {moved.nonzero().flatten().tolist()} although neither "
        "terminateds nor truncateds is set (an episode ended without a flag, or obs is not the next observation)",
    )
    return done


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} {list(value.shape)}"
    return type(value).__name__


def _rows_equal(a: Any, b: Any) -> torch.Tensor:
    """Return whether each row of two observations (tensors or TensorDicts of one structure) is equal ``[n]``."""
    if isinstance(a, TensorDictBase):
        leaves = [_rows_equal(a.get(key), b.get(key)) for key in a.keys(True, True)]
        return torch.stack(leaves).all(0)
    rows: torch.Tensor = (a == b).reshape(a.shape[0], -1).all(1)
    return rows


def _first_difference(a: TensorDictBase, b: TensorDictBase) -> str | None:
    """Return the first key in which two results differ (keys, shape, dtype or values), or ``None``."""
    keys_a, keys_b = set(a.keys(True, True)), set(b.keys(True, True))
    if keys_a != keys_b:
        return "keys"
    for key in sorted(keys_a, key=str):
        x, y = a.get(key), b.get(key)
        if x.dtype != y.dtype or not torch.equal(x, y):
            return ".".join(key) if isinstance(key, tuple) else str(key)
    return None


#: Name of the option ``check_algorithm`` expects an algorithm's config to reject.
UNKNOWN_OPTION = "rl8_no_such_option"
#: A metric name: ``group/name`` (``losses/total``, ``stats/approx_kl``).
METRIC_NAME = re.compile(r"^\w+(/\w+)+$")


def check_algorithm(
    algorithm_cls: type[Algorithm],
    module_class: Callable[..., RLModule] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    env: Callable[..., BatchedEnv] | None = None,
    num_envs: int = 4,
    horizon: int = 16,
    updates: int = 1,
    lr: float = 1e-3,
) -> dict[str, float]:
    """Check an ``Algorithm`` subclass against the algorithm contract, on a small rollout.

    It checks that:

    * ``algorithm_cls()`` builds from ``config_class`` defaults, and a config
      with an unknown key fails with a ``ConfigError`` naming the key;
    * ``num_epochs`` is a positive int and ``minibatch_size`` one or ``None``;
    * the module declares every ``forward_train`` output that
      ``train_output_specs()`` says the loss reads (``check_train_outputs``);
    * a rollout ``[t, n]`` collected by rl8-core's ``Runner`` postprocesses into
      a flat batch ``[b]``;
    * ``loss`` on that batch gives a finite scalar float tensor that requires
      grad, and metrics named ``group/name`` whose values are finite floats or
      0-d tensors;
    * ``updates`` ``Learner`` updates on that batch give finite metrics and
      decrease the algorithm's own loss on it.

    Args:
        algorithm_cls: The algorithm class (what an ``rl8_algorithms`` hook registers).
        module_class: Built as ``module_class(observation_spec, action_spec)``;
            default: the module of ``algorithm_cls.default_module()``, else the default algorithm's.
        config: Options for ``algorithm_cls`` (a mapping validated into its
            ``config_class``); default: its defaults.
        env: An env factory, called as ``env(num_envs=..., seed=..., device="cpu")``;
            default: the registry's ``cartpole``.
        num_envs: Envs stepped together.
        horizon: Steps per env in the rollout.
        updates: Learner updates on the one batch before the loss is compared.
        lr: The learner's learning rate.

    Returns:
        The metrics of the last learner update.

    Raises:
        AssertionError: Naming the algorithm, the broken rule and what was expected.

    Examples:
        >>> from rl8_core import get_registry
        >>> metrics = check_algorithm(get_registry().get("algorithm", "ppo"), config={"num_epochs": 1})
        >>> "losses/total" in metrics
        True
    """
    where = f"algorithm {_name(algorithm_cls)}"
    _require(
        isinstance(algorithm_cls, type) and issubclass(algorithm_cls, Algorithm),
        where,
        f"{algorithm_cls!r} is not an Algorithm subclass",
    )
    default = _call(where, "building from config_class defaults", algorithm_cls)
    config_class = algorithm_cls.config_class
    _require(
        isinstance(default.config, config_class),
        where,
        f"config is a {type(default.config).__name__}, not its config_class {config_class.__name__}",
    )
    _require_rejects_unknown_option(algorithm_cls, config or {}, where)
    algorithm = (
        default if config is None else _call(where, f"building from {dict(config)!r}", lambda: algorithm_cls(config))
    )
    epochs, size = algorithm.num_epochs, algorithm.minibatch_size
    _require(isinstance(epochs, int) and epochs >= 1, where, f"num_epochs is {epochs!r}, expected an int >= 1")
    _require(
        size is None or (isinstance(size, int) and size >= 1),
        where,
        f"minibatch_size is {size!r}, expected an int >= 1 or None",
    )
    if module_class is None:
        module_class = _call(
            where, "default_module() (or pass module_class)", lambda: default_module_of(algorithm_cls, get_registry())
        )[0]
    factory = env if env is not None else get_registry().get("env", "cartpole")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        built = factory(num_envs=num_envs, seed=SEED, device="cpu")
        try:
            module = module_class(built.observation_spec, built.action_spec)
            _call(where, "train_output_specs() against the module", lambda: check_train_outputs(algorithm, module))
            rollout = Runner(built, module, horizon=horizon, seed=SEED).collect().clone()
        finally:
            built.close()
        return _check_learning(algorithm, module, rollout, updates, lr, where)


def _require_rejects_unknown_option(algorithm_cls: type[Algorithm], config: Mapping[str, Any], where: str) -> None:
    try:
        algorithm_cls({**config, UNKNOWN_OPTION: 1})
    except ConfigError as exc:
        _require(UNKNOWN_OPTION in str(exc), where, f"the ConfigError for an unknown key does not name it: {exc}")
    except Exception as exc:  # the wrong kind of error is a finding, not a crash of the check
        raise AssertionError(
            f"{where}: an unknown config key raised {type(exc).__name__}: {exc}; expected a ConfigError naming it"
        ) from exc
    else:
        raise AssertionError(
            f"{where}: its config accepted the unknown key {UNKNOWN_OPTION!r}; expected a ConfigError naming it "
            "(validate mappings with config_from_mapping, as Algorithm.__init__ does)"
        )


def _check_learning(
    algorithm: Algorithm, module: RLModule, rollout: TensorDictBase, updates: int, lr: float, where: str
) -> dict[str, float]:
    batch = _call(where, "postprocess(rollout, module)", lambda: algorithm.postprocess(rollout.clone(), module))
    _require(
        isinstance(batch, TensorDictBase) and batch.batch_dims == 1,
        where,
        f"postprocess returned {_describe_batch(batch)}, expected a flat TensorDict [b]",
    )

    def own_loss() -> Any:
        module.train()
        torch.manual_seed(SEED)  # the same dropout-like randomness before and after the updates
        out = _call(where, "loss(module, batch)", lambda: algorithm.loss(module, algorithm.prepare_minibatch(batch)))
        _require(isinstance(out, tuple) and len(out) == 2, where, "loss must return (loss, metrics)")
        return out

    loss, stats = own_loss()
    _require(isinstance(loss, torch.Tensor), where, f"loss is a {type(loss).__name__}, not a Tensor")
    _require(loss.ndim == 0, where, f"loss has shape {list(loss.shape)}, expected a scalar []")
    _require(loss.is_floating_point(), where, f"loss has dtype {loss.dtype}, expected a float dtype")
    _require(bool(torch.isfinite(loss)), where, f"loss is not finite: {loss.item()}")
    _require(loss.requires_grad, where, "loss does not require grad: it does not depend on the module's parameters")
    _require_metrics(stats, where, "loss metrics")
    before = float(loss.detach())

    learner = Learner(module, algorithm, LearnerConfig(lr=lr))
    metrics: dict[str, float] = {}
    for i in range(updates):
        metrics = _call(where, f"Learner.update {i}", lambda: learner.update(batch))
        _require_metrics(metrics, where, f"metrics of Learner.update {i}")
    with torch.no_grad():
        after = float(own_loss()[0])
    _require(
        after < before,
        where,
        f"{updates} learner updates on one batch did not decrease the algorithm's own loss: "
        f"{before:.6g} before, {after:.6g} after",
    )
    return metrics


def _describe_batch(batch: Any) -> str:
    if isinstance(batch, TensorDictBase):
        return f"a TensorDict {list(batch.batch_size)}"
    return f"a {type(batch).__name__}"


def _require_metrics(metrics: Any, where: str, what: str) -> None:
    _require(isinstance(metrics, Mapping), where, f"{what} are a {type(metrics).__name__}, not a mapping")
    for key, value in metrics.items():
        _require(
            isinstance(key, str) and bool(METRIC_NAME.match(key)),
            where,
            f"{what}: name {key!r} is not like 'group/name' (losses/..., stats/...)",
        )
        if isinstance(value, torch.Tensor):
            _require(value.ndim == 0, where, f"{what}: {key!r} has shape {list(value.shape)}, expected a 0-d tensor")
            number = float(value.detach())
        else:
            _require(
                isinstance(value, (int, float)) and not isinstance(value, bool),
                where,
                f"{what}: {key!r} is a {type(value).__name__}, expected a float or a 0-d tensor",
            )
            number = float(value)
        _require(math.isfinite(number), where, f"{what}: {key!r} is not finite: {number}")


def _registered_leaf_dist(leaf: Spec) -> LeafDist:
    """Return the first registered distribution supporting ``leaf`` (rl8-core's first, then by name).

    Raises:
        LookupError: If none does.
    """
    components = get_registry().components("distribution")
    for info in sorted(components, key=lambda c: (c.distribution != BUILTIN_DISTRIBUTION, c.name)):
        cls = info.obj
        if isinstance(cls, type) and issubclass(cls, Distribution) and not cls.takes_leaf_dists and cls.supports(leaf):
            return cls, {}
    raise LookupError(f"no registered distribution supports the leaf {leaf!r}")


def _check_one_distribution(
    dist_cls: type[Distribution], spec: Spec, n: Any, config: Mapping[str, Any], where: str
) -> None:
    _require(isinstance(n, int) and not isinstance(n, bool) and n >= 0, where, f"required_inputs gave {n!r}")
    free = dist_cls.state_independent_inputs(spec, **config)
    _require(
        isinstance(free, int) and 0 <= free <= n,
        where,
        f"state_independent_inputs gave {free!r}, not an int in [0, {n}]",
    )
    gen = torch.Generator().manual_seed(SEED)
    inputs = torch.randn(BATCH_SIZE, n, generator=gen)

    def build(x: torch.Tensor) -> Distribution:
        built: Distribution = _call(where, f"building from inputs {list(x.shape)}", lambda: dist_cls(x, spec, **config))
        return built

    dist = build(inputs)
    target = _relaxed(spec)
    sample = _call(where, "sample()", dist.sample)
    _require_in_spec(sample, target, where, "sample()")
    det = _call(where, "deterministic_sample()", dist.deterministic_sample)
    _require_in_spec(det, target, where, "deterministic_sample()")
    _require(_equal(det, dist.deterministic_sample()), where, "deterministic_sample() is not deterministic")

    logp = _call(where, "logp(sample())", lambda: dist.logp(sample))
    _require_per_sample(logp, where, "logp(sample())")
    _require_per_sample(_call(where, "logp(deterministic_sample())", lambda: dist.logp(det)), where, "logp(mode)")
    entropy = _call(where, "entropy()", dist.entropy)
    _require_per_sample(entropy, where, "entropy()")

    rows = action_value_count(spec)
    if rows:
        # Every value of every discrete leaf, in one batch: a distribution with fewer inputs
        # than actions (too few logits) cannot give all of them a finite logp.
        every = every_action_value(spec, rows, gen)
        what = "logp of every valid action (does required_inputs count an input for each action?)"
        all_logp = _call(where, what, lambda: build(torch.randn(rows, n, generator=gen)).logp(every))
        _require_per_sample(all_logp, where, what, size=rows)

    same = build(inputs.clone())
    kl_same = _call(where, "kl()", lambda: dist.kl(same))
    _require_per_sample(kl_same, where, "kl(self)")
    _require(bool((kl_same.abs() <= 1e-4).all()), where, f"kl with itself is not ~0: {kl_same.tolist()}")
    other = build(torch.randn(BATCH_SIZE, n, generator=gen))
    kl_other = dist.kl(other)
    _require_per_sample(kl_other, where, "kl(other)")
    _require(bool((kl_other >= -1e-4).all()), where, f"kl with another distribution is negative: {kl_other.tolist()}")

    if n > 0:
        grad = _grad(where, "logp", lambda x: build(x).logp(sample).sum(), inputs)
        _require(grad is not None, where, "logp is not differentiable in action_dist_inputs")
        _require(grad is None or bool(torch.isfinite(grad).all()), where, "the gradient of logp is not finite")
        if dist_cls.has_rsample:
            rs = _call(where, "rsample()", build(inputs).rsample)
            _require_in_spec(rs, target, where, "rsample()")
            grad = _grad(where, "rsample", lambda x: _float_sum(build(x).rsample()), inputs)
            _require(grad is not None, where, "has_rsample is set but rsample() is not differentiable")

    first = build(inputs[:1])
    _require_close(first.logp(sample[:1]), logp[:1], where, "logp of row 0 differs from a batch of one")
    _require_close(first.entropy(), entropy[:1], where, "entropy of row 0 differs from a batch of one")

    clone = _call(where, "cloudpickle round trip", lambda: cloudpickle.loads(cloudpickle.dumps(dist)))
    _require_close(clone.logp(sample), logp, where, "a cloudpickle round trip changed logp")
    _require_close(clone.entropy(), entropy, where, "a cloudpickle round trip changed entropy")
    _require(_equal(clone.deterministic_sample(), det), where, "a cloudpickle round trip changed the mode")


def _name(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", None) or repr(obj))


def _labelled(specs: Specs, default: Callable[[], dict[str, Spec]]) -> list[tuple[str, Spec]]:
    if specs is None:
        return list(default().items())
    if isinstance(specs, Mapping):
        return list(specs.items())
    return [(repr(spec), spec) for spec in specs]


def _require(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise AssertionError(f"{where}: {what}")


def _call(where: str, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # report any failure of the component under test with its context
        raise AssertionError(f"{where}: {what} raised {type(exc).__name__}: {exc}") from exc


def _grad(
    where: str, what: str, fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor
) -> torch.Tensor | None:
    """Return the gradient of ``fn(x)`` at ``x = inputs``, or ``None`` where it does not depend on ``x``."""
    x = inputs.clone().requires_grad_(True)
    out = _call(where, what, lambda: fn(x))
    if not out.requires_grad:
        return None
    grads = _call(where, f"gradient of {what}", lambda: torch.autograd.grad(out, x, allow_unused=True))
    grad: torch.Tensor | None = grads[0]
    return grad


def _require_features(out: Any, shape: tuple[int, int], where: str) -> None:
    _require(isinstance(out, torch.Tensor), where, f"forward returned {type(out).__name__}, not a Tensor")
    _require(tuple(out.shape) == shape, where, f"features have shape {list(out.shape)}, expected {list(shape)}")
    dtype = torch.get_default_dtype()
    _require(
        out.dtype == dtype, where, f"features have dtype {out.dtype}, expected {dtype} (torch.get_default_dtype())"
    )
    _require(bool(torch.isfinite(out).all()), where, "features are not all finite")


def _require_per_sample(value: Any, where: str, what: str, size: int = BATCH_SIZE) -> None:
    _require(isinstance(value, torch.Tensor), where, f"{what} returned {type(value).__name__}, not a Tensor")
    _require(tuple(value.shape) == (size,), where, f"{what} has shape {list(value.shape)}, expected [b]")
    _require(value.is_floating_point(), where, f"{what} has dtype {value.dtype}, expected a float dtype")
    _require(bool(torch.isfinite(value).all()), where, f"{what} is not finite: {value.tolist()}")


def _require_in_spec(actions: Any, spec: Spec, where: str, what: str) -> None:
    try:
        spec.validate(actions.detach(), batch_shape=(BATCH_SIZE,))
    except ValueError as exc:  # SpecError, naming the leaf and the value
        raise AssertionError(f"{where}: {what} does not belong to the action spec: {exc}") from None


def _require_close(
    actual: Any, expected: Any, where: str, what: str, *, rtol: float = 1e-4, atol: float = 1e-5
) -> None:
    try:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)
    except AssertionError as exc:
        raise AssertionError(f"{where}: {what}: {exc}") from None


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, TensorDictBase) and isinstance(b, TensorDictBase):
        return (
            a.batch_size == b.batch_size and set(a.keys(True, True)) == set(b.keys(True, True)) and bool((a == b).all())
        )
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)


def _float_sum(x: Any) -> torch.Tensor:
    if isinstance(x, TensorDictBase):
        leaves = x.values(include_nested=True, leaves_only=True)
        return torch.stack([v.sum() for v in leaves if isinstance(v, torch.Tensor) and v.is_floating_point()]).sum()
    total: torch.Tensor = x.sum()
    return total


def _relaxed(spec: Spec) -> Spec:
    """Return ``spec`` without the bounds of float ``Box`` leaves (shape, dtype and finiteness stay)."""
    if isinstance(spec, Box) and spec.dtype.is_floating_point:
        return Box(spec.shape, dtype=spec.dtype)
    if isinstance(spec, Composite):
        return Composite({key: _relaxed(sub) for key, sub in spec.items()}, is_tuple=spec.is_tuple)
    return spec
