"""Progress display for training: a live rich bar on a terminal, periodic lines elsewhere."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from rl8_core.columns import Metrics

__all__ = ["ProgressDisplay", "banner", "final_text"]


def _summary(result: Mapping[str, float]) -> str:
    """One line: iteration, env steps, steps/s, return, and each module's return in a multi-agent run.

    Examples:
        >>> _summary({"counters/iterations": 2, "episodes/return_mean": -60.0,
        ...           "episodes/return_mean/red": -20.0, "episodes/return_mean/blue": -40.0})
        'iter 2  env steps 0  0 steps/s  return -60.0 (red -20.0, blue -40.0)'
    """
    ret = result.get(Metrics.RETURN_MEAN, math.nan)
    ret_text = "-" if math.isnan(ret) else f"{ret:.1f}"
    prefix = f"{Metrics.RETURN_MEAN}/"
    modules = [f"{k[len(prefix) :]} {v:.1f}" for k, v in result.items() if k.startswith(prefix) and not math.isnan(v)]
    return (
        f"iter {int(result.get(Metrics.ITERATIONS, 0))}  "
        f"env steps {int(result.get(Metrics.ENV_STEPS, 0)):,}  "
        f"{result.get(Metrics.ENV_STEPS_PER_S, 0.0):,.0f} steps/s  "
        f"return {ret_text}" + (f" ({', '.join(modules)})" if modules else "")
    )


class ProgressDisplay:
    """Show iterations, env steps, env steps/s and mean return while training.

    Args:
        mode: ``rich`` (live bar), ``plain`` (a line every ``interval_s``),
            ``none``, or ``auto`` (rich on a terminal, plain otherwise).
        total_env_steps: Env steps of the run, when known (fills the bar).
        interval_s: Seconds between plain lines.
        stream: Where plain lines go.
    """

    def __init__(
        self,
        mode: str = "auto",
        *,
        total_env_steps: int | None = None,
        interval_s: float = 2.0,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        if mode == "auto":
            mode = "rich" if self.stream.isatty() else "plain"
        self.mode = mode
        self.total = total_env_steps
        self.interval_s = interval_s
        self._last_line = -math.inf
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.mode == "rich":
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                TextColumn("{task.fields[summary]}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, summary="starting")
        return self

    def update(self, result: Mapping[str, float]) -> None:
        """Show the latest iteration's result."""
        if self.mode == "rich" and self._progress is not None:
            self._progress.update(self._task, completed=result.get(Metrics.ENV_STEPS, 0), summary=_summary(result))
        elif self.mode == "plain":
            now = time.monotonic()
            if now - self._last_line >= self.interval_s:
                print(_summary(result), file=self.stream, flush=True)
                self._last_line = now

    def message(self, text: str) -> None:
        """Print a line above the live display (or plainly)."""
        if self.mode == "none":
            return
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def banner(device: object, components: list[dict[str, str | None]], tracker: Any = None) -> str:
    """Return the line that starts a run: the device, every component with its distribution, where it is tracked.

    Examples:
        >>> banner("cpu", [{"kind": "env", "name": "cartpole", "distribution": "rl8-core", "version": "0.1.0"}])
        'rl8: training on cpu with env cartpole (rl8-core 0.1.0); tracking off'
    """
    parts = [f"{c['kind']} {c['name']} ({c['distribution']} {c['version']})" for c in components]
    where = f"MLflow {tracker.uri} run {tracker.run_id}" if tracker is not None else "tracking off"
    return f"rl8: training on {device} with " + ", ".join(parts) + f"; {where}"


def final_text(result: Mapping[str, float], stopped_by: list[str], checkpoints: Any = None) -> str:
    """Return the line that ends a run: iterations, env steps, time, why it stopped, returns, checkpoints.

    Examples:
        >>> final_text({"counters/iterations": 3, "counters/env_steps": 96, "counters/wall_s": 1.5,
        ...             "episodes/return_mean": 20.0}, ["EnvSteps(96)"])
        'done after 3 iterations, 96 env steps, 1.5 s (stopped by EnvSteps(96)); training return 20.0'
    """
    text = (
        f"done after {int(result.get(Metrics.ITERATIONS, 0))} iterations, "
        f"{int(result.get(Metrics.ENV_STEPS, 0)):,} env steps, {result.get(Metrics.WALL_S, 0.0):.1f} s "
        f"(stopped by {', '.join(stopped_by)}); "
        f"training return {result.get(Metrics.RETURN_MEAN, math.nan):.1f}"
    )
    if Metrics.EVAL_RETURN_MEAN in result:
        text += (
            f"; eval return {result[Metrics.EVAL_RETURN_MEAN]:.1f} over {int(result[Metrics.EVAL_EPISODES])} episodes"
        )
    if checkpoints is not None:
        text += f"; checkpoints in {checkpoints}"
    return text
