"""MLflow tracking: params, buffered per-iteration metrics, artifacts.

Metrics are queued and written by a background thread in batches, so a
training iteration never waits on the tracking store.
"""

from __future__ import annotations

import logging
import math
import queue
import random
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rl8_core.training.config import TrackingConfig

__all__ = ["Tracker", "default_artifact_location", "flatten_params", "run_params"]

logger = logging.getLogger(__name__)

_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAM_LENGTH = 6000
_TICK = object()


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested config data into dotted ``key -> str(value)`` MLflow params.

    Examples:
        >>> flatten_params({"learner": {"lr": 0.001}, "seed": 1})
        {'learner.lr': '0.001', 'seed': '1'}
    """
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{name}."))
        else:
            out[name] = str(value)[:_MAX_PARAM_LENGTH]
    return out


def run_params(config: Mapping[str, Any], components: list[dict[str, str | None]]) -> dict[str, Any]:
    """Return the MLflow params of a run: its config, and each resolved component's provenance.

    Examples:
        >>> run_params({"seed": 0}, [{"kind": "algorithm", "name": "ppo", "distribution": "rl8-core",
        ...     "version": "0.1.0", "plugin": "ppo", "object": "rl8_plugins.algorithms.ppo:PPO"}])
        {'seed': 0, 'components': {'algorithm.ppo': 'rl8-core 0.1.0 (plugin ppo, rl8_plugins.algorithms.ppo:PPO)'}}
    """
    return {
        **config,
        "components": {
            f"{c['kind']}.{c['name']}": f"{c['distribution']} {c['version']} (plugin {c['plugin']}, {c['object']})"
            for c in components
        },
    }


def default_artifact_location(uri: str, experiment: str) -> str | None:
    """Return where a new experiment's artifacts go: ``mlruns/<experiment>`` beside a sqlite database.

    MLflow's own default is ``./mlruns`` in the working directory, wherever the
    database is; keeping a run's artifacts next to its database keeps a
    training directory self-contained. ``None`` (MLflow decides) for other stores.

    Examples:
        >>> default_artifact_location("sqlite:////runs/mlflow.db", "cart pole")
        'file:///runs/mlruns/cart_pole'
        >>> default_artifact_location("http://localhost:5000", "rl8") is None
        True
    """
    if not uri.startswith("sqlite:///"):
        return None
    database = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("_.") or "experiment"
    return (Path(database).resolve().parent / "mlruns" / folder).as_uri()


class Tracker:
    """One MLflow run: ``start``, ``log_metrics`` (buffered), ``log_artifacts``, ``end``.

    Args:
        config: URI, experiment and run name, flush interval.

    Examples:
        >>> import tempfile
        >>> from rl8_core import TrackingConfig
        >>> uri = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
        >>> tracker = Tracker(TrackingConfig(uri=uri, experiment="doc"))
        >>> run_id = tracker.start({"seed": 0})
        >>> tracker.log_metrics({"losses/vf": 1.5}, step=1)
        >>> tracker.end()
        >>> import mlflow
        >>> mlflow.MlflowClient(uri).get_run(run_id).data.metrics["losses/vf"]
        1.5
    """

    def __init__(self, config: TrackingConfig) -> None:
        import mlflow

        self.config = config
        self._mlflow = mlflow
        self.uri = config.uri or mlflow.get_tracking_uri()
        self.client = mlflow.MlflowClient(self.uri)
        self.run_id: str | None = None
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(
        self, params: Mapping[str, Any], tags: Mapping[str, str] | None = None, *, run_id: str | None = None
    ) -> str:
        """Create the run (or continue ``run_id`` if the store has it), log ``params``; return the run id.

        Continuing a run logs no params again (MLflow params are immutable).
        """
        from mlflow.exceptions import MlflowException

        if run_id is not None:
            try:
                self.client.update_run(run_id, status="RUNNING")
                self.run_id = run_id
            except MlflowException:
                logger.info("MLflow run %s not found in %s; starting a new run", run_id, self.uri)
        if self.run_id is None:
            exp = self.client.get_experiment_by_name(self.config.experiment)
            if exp is not None:
                exp_id = exp.experiment_id
            else:
                location = self.config.artifact_location or default_artifact_location(self.uri, self.config.experiment)
                exp_id = self.client.create_experiment(self.config.experiment, artifact_location=location)
            # MLflow draws generated run names from Python's global RNG, which the run's seed has
            # fixed: reseed it from the OS for the draw (and restore it) so that runs with the same
            # seed do not all get the same name, and the same checkpoint directory.
            rng_state = random.getstate()
            random.seed()
            try:
                run = self.client.create_run(exp_id, run_name=self.config.run_name, tags=dict(tags or {}))
            finally:
                random.setstate(rng_state)
            self.run_id = run.info.run_id
            self.log_params(params)
        self._thread = threading.Thread(target=self._writer, name="rl8-mlflow", daemon=True)
        self._thread.start()
        return self.run_id

    @property
    def run_name(self) -> str:
        """The run's name as MLflow stored it."""
        assert self.run_id is not None
        return str(self.client.get_run(self.run_id).info.run_name)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params now (flattened to dotted keys, in batches of MLflow's limit)."""
        from mlflow.entities import Param

        flat = flatten_params(params)
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self._run(), params=items[i : i + _MAX_PARAMS_PER_BATCH], synchronous=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Queue metrics for ``step``; non-finite values are dropped (MLflow rejects NaN in some stores)."""
        if self._error is not None:
            raise RuntimeError(f"MLflow logging failed earlier: {self._error}") from self._error
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        self._queue.put((clean, step, int(time.time() * 1000)))

    def _writer(self) -> None:
        from mlflow.entities import Metric

        pending: list[Metric] = []
        last = time.monotonic()
        finished = False
        while not finished:
            try:
                item = self._queue.get(timeout=self.config.flush_every_s)
            except queue.Empty:
                item = _TICK
            if item is None:
                finished = True
            elif isinstance(item, tuple):
                metrics, step, ts = item
                pending.extend(Metric(k, v, ts, step) for k, v in metrics.items())
            due = finished or item is _TICK or time.monotonic() - last >= self.config.flush_every_s
            if pending and due:
                try:
                    for i in range(0, len(pending), _MAX_METRICS_PER_BATCH):
                        self.client.log_batch(self._run(), metrics=pending[i : i + _MAX_METRICS_PER_BATCH])
                except Exception as exc:  # surfaced to the training loop on the next log call
                    logger.error("MLflow metric logging failed: %s", exc)
                    self._error = exc
                pending = []
                last = time.monotonic()

    def flush(self) -> None:
        """Write every queued metric now (restarts the writer afterwards)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"MLflow logging failed: {self._error}") from self._error
        self._thread = threading.Thread(target=self._writer, name="rl8-mlflow", daemon=True)
        self._thread.start()

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Upload a directory (e.g. the final checkpoint) to the run's artifacts."""
        self.client.log_artifacts(self._run(), str(local_dir), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set run tags."""
        for key, value in tags.items():
            self.client.set_tag(self._run(), key, value)

    def end(self, status: str = "FINISHED") -> None:
        """Flush metrics and mark the run ``FINISHED``, ``FAILED`` or ``KILLED``."""
        if self.run_id is None:
            return
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.client.set_terminated(self.run_id, status=status)
        if self._error is not None:
            raise RuntimeError(f"MLflow logging failed: {self._error}") from self._error

    def _run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("Tracker.start() has not been called")
        return self.run_id
