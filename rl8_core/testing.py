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

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cloudpickle
import torch
from tensordict import TensorDictBase

from rl8_core.components.distribution import Distribution
from rl8_core.components.encoder import Encoder
from rl8_core.errors import PluginError
from rl8_core.imports import BUILTIN_DISTRIBUTION
from rl8_core.plugins.registry import Registry, get_registry, using_registry
from specs import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec

__all__ = [
    "check_distribution",
    "check_encoder",
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
    * in eval mode, the first row equals the output for a batch of one
      (batch elements do not mix);
    * a cloudpickle round trip gives an encoder with equal outputs.

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
                built = encoder(spec, **config)
            except (TypeError, ValueError) as exc:
                rejected.append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            _check_one_encoder(built, spec, where)
        accepted.append(spec)
    if not accepted:
        raise AssertionError(f"encoder {name} accepted none of the specs: " + "; ".join(rejected))
    return accepted


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
    _require(out.is_floating_point(), where, f"features have dtype {out.dtype}, expected a float dtype")
    _require(bool(torch.isfinite(out).all()), where, "features are not all finite")


def _require_per_sample(value: Any, where: str, what: str) -> None:
    _require(isinstance(value, torch.Tensor), where, f"{what} returned {type(value).__name__}, not a Tensor")
    _require(tuple(value.shape) == (BATCH_SIZE,), where, f"{what} has shape {list(value.shape)}, expected [b]")
    _require(value.is_floating_point(), where, f"{what} has dtype {value.dtype}, expected a float dtype")
    _require(bool(torch.isfinite(value).all()), where, f"{what} is not finite: {value.tolist()}")


def _require_in_spec(actions: Any, spec: Spec, where: str, what: str) -> None:
    try:
        spec.validate(actions.detach(), batch_shape=(BATCH_SIZE,))
    except ValueError as exc:  # SpecError, naming the leaf and the value
        raise AssertionError(f"{where}: {what} does not belong to the action spec: {exc}") from None


def _require_close(actual: Any, expected: Any, where: str, what: str) -> None:
    try:
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
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
