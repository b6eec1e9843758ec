"""``evaluate``: full episodes with a module, and statistics of their returns."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from rl8_core.columns import Columns, Metrics
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModule
from rl8_core.components.sequences import reset_state
from rl8_core.training.config import CheckSpecs, spec_checks_on
from specs import checking

__all__ = ["Actor", "evaluate"]


class Actor:
    """Choose actions for ``num_envs`` envs with a module, carrying a stateful module's state across steps.

    Evaluation and video clips act this way: ``forward_inference``
    (deterministic) or ``forward_exploration``, spec checks as in training
    (``check_specs``, with the step as the iteration), and the module's state
    passed from step to step and reset to ``initial_state`` where an env's
    episode ended (``episodes_ended``). Call it under ``torch.no_grad()``.

    Args:
        module: The module; it is put in eval mode.
        num_envs: Envs acted for at once (the batch ``[n]``).
        deterministic: Use ``forward_inference``, else ``forward_exploration``.
        check_specs: ``first`` checks the first step, ``always`` every step, ``never`` none; a
            checked step also checks the actions with ``RLModule.check_actions``.
    """

    def __init__(self, module: RLModule, num_envs: int, *, deterministic: bool, check_specs: CheckSpecs) -> None:
        self.module = module
        self.num_envs = num_envs
        self.device = next(module.parameters()).device
        self.check_specs: CheckSpecs = check_specs
        self._mode = "inference" if deterministic else "exploration"
        self._forward = module.forward_inference if deterministic else module.forward_exploration
        module.eval()
        self._initial = module.initial_state(num_envs, self.device)
        self._state = self._initial.clone()
        self._state_out: TensorDictBase | None = None
        #: Steps acted so far.
        self.steps = 0

    def act(self, obs: torch.Tensor | TensorDictBase) -> torch.Tensor | TensorDictBase:
        """Return the actions ``[n, *action_shape]`` (on the module's device) for observations ``obs`` ``[n, ...]``.

        Raises:
            SpecError: If a checked step's input, output or actions do not match the module's specs.
        """
        checked = spec_checks_on(self.check_specs, self.steps)
        inputs = TensorDict({Columns.OBS: obs.to(self.device)}, batch_size=[self.num_envs])
        if self.module.is_stateful:
            inputs.set(Columns.STATE_IN, self._state)
        with checking(checked):
            out = self._forward(inputs)
        actions = out.get(Columns.ACTIONS)
        if checked:
            self.module.check_actions(self._mode, actions)
        if self.module.is_stateful:
            self._state_out = out.get(Columns.STATE_OUT)
        self.steps += 1
        result: torch.Tensor | TensorDictBase = actions
        return result

    def episodes_ended(self, done: torch.Tensor) -> None:
        """Take the state the last ``act`` left, reset where ``done`` ``[n]`` (bool) marks an ended episode."""
        if self._state_out is not None:
            self._state = reset_state(self._state_out, self._initial, done.to(self.device))


def evaluate(
    module: RLModule,
    env: BatchedEnv,
    *,
    episodes: int,
    deterministic: bool = True,
    seed: int | None = None,
    max_steps: int = 1_000_000,
    check_specs: CheckSpecs = "first",
) -> dict[str, float]:
    """Run ``episodes`` full episodes and return ``eval/*`` statistics of their returns.

    Episodes are spread evenly over the envs and only the first ones of each
    env count, so short episodes are not over-represented (as SB3 does).
    A stateful module's state is carried from step to step and reset when an
    env's episode ends, as in training.

    Args:
        module: Acts with ``forward_inference`` (deterministic) or ``forward_exploration``.
        env: The env to evaluate on; it is reset first.
        episodes: How many episodes to average.
        deterministic: Use ``forward_inference``.
        seed: Seed for the env's reset.
        max_steps: Guard against envs that never end.
        check_specs: Spec checks of the module's forward, as in training, with the step as the
            iteration: ``first`` checks the first step, ``always`` every step, ``never`` none. A
            checked step also checks the actions with ``RLModule.check_actions`` before the env gets them.

    Raises:
        RuntimeError: If the episodes do not finish within ``max_steps`` steps per env.
        SpecError: If a checked step's input, output or actions do not match the module's specs.
    """
    n = env.num_envs
    targets = torch.tensor([(episodes + i) // n for i in range(n)], device=env.device)
    counts = torch.zeros(n, dtype=torch.int64, device=env.device)
    ep_return = torch.zeros(n, dtype=torch.float64, device=env.device)
    ep_length = torch.zeros(n, dtype=torch.int64, device=env.device)
    returns: list[float] = []
    lengths: list[int] = []
    actor = Actor(module, n, deterministic=deterministic, check_specs=check_specs)
    obs = env.reset(seed=seed).get(Columns.OBS)
    with torch.no_grad():
        for _ in range(max_steps):
            result = env.step(actor.act(obs).to(env.device))
            ep_return += result.get(Columns.REWARDS)
            ep_length += 1
            done = result.get(Columns.TERMINATEDS) | result.get(Columns.TRUNCATEDS)
            actor.episodes_ended(done)
            record = done & (counts < targets)
            if bool(record.any()):
                returns.extend(ep_return[record].tolist())
                lengths.extend(ep_length[record].tolist())
                counts += record.long()
                if bool((counts >= targets).all()):
                    break
            ep_return *= ~done
            ep_length *= ~done
            obs = result.get(Columns.OBS)
        else:
            raise RuntimeError(f"evaluation did not finish {episodes} episodes within {max_steps} steps per env")
    r = torch.tensor(returns, dtype=torch.float64)
    return {
        Metrics.EVAL_RETURN_MEAN: float(r.mean()),
        Metrics.EVAL_RETURN_STD: float(r.std(unbiased=False)),
        Metrics.EVAL_RETURN_MIN: float(r.min()),
        Metrics.EVAL_RETURN_MAX: float(r.max()),
        Metrics.EVAL_LENGTH_MEAN: float(torch.tensor(lengths, dtype=torch.float64).mean()),
        Metrics.EVAL_EPISODES: float(len(returns)),
    }
