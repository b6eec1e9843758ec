"""``evaluate``: full episodes with a module, and statistics of their returns."""

from __future__ import annotations

import torch
from tensordict import TensorDict

from rl8_core.columns import Columns, Metrics
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModule
from rl8_core.components.sequences import reset_state
from rl8_core.training.config import CheckSpecs, spec_checks_on
from specs import checking

__all__ = ["evaluate"]


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
    device = next(module.parameters()).device
    targets = torch.tensor([(episodes + i) // n for i in range(n)], device=env.device)
    counts = torch.zeros(n, dtype=torch.int64, device=env.device)
    ep_return = torch.zeros(n, dtype=torch.float64, device=env.device)
    ep_length = torch.zeros(n, dtype=torch.int64, device=env.device)
    returns: list[float] = []
    lengths: list[int] = []
    mode = "inference" if deterministic else "exploration"
    forward = module.forward_inference if deterministic else module.forward_exploration
    module.eval()
    obs = env.reset(seed=seed).get(Columns.OBS)
    initial = module.initial_state(n, device)
    state = initial.clone()
    with torch.no_grad():
        for step in range(max_steps):
            checked = spec_checks_on(check_specs, step)
            inputs = TensorDict({Columns.OBS: obs.to(device)}, batch_size=[n])
            if module.is_stateful:
                inputs.set(Columns.STATE_IN, state)
            with checking(checked):
                out = forward(inputs)
            actions = out.get(Columns.ACTIONS)
            if checked:
                module.check_actions(mode, actions)
            result = env.step(actions.to(env.device))
            ep_return += result.get(Columns.REWARDS)
            ep_length += 1
            done = result.get(Columns.TERMINATEDS) | result.get(Columns.TRUNCATEDS)
            if module.is_stateful:
                state = reset_state(out.get(Columns.STATE_OUT), initial, done.to(device))
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
