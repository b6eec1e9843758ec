"""MLflow tracking: params, buffered per-iteration metrics, artifacts.

Metrics are queued and written by a background thread in batches, so a
training iteration never waits on the tracking store, and a store that fails
mid-run costs a warning and a local JSON-lines file, never the training.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import queue
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from rl8_core.environ import environ
from rl8_core.errors import ConfigError
from rl8_core.training.config import TrackingConfig

__all__ = ["Tracker", "default_artifact_location", "flatten_params", "run_params"]

logger = logging.getLogger(__name__)

_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAM_LENGTH = 6000
_TICK = object()
#: Tries of each store call while training (the first and two retries, 0.5 s then 1 s apart).
_ATTEMPTS = 3
_BACKOFF_S = 0.5
#: The longest ``end`` and ``log_artifacts`` wait for queued metrics, and ``end`` for the run's status.
_WAIT_S = 30.0
#: MLflow's HTTP settings while ``start`` checks that the server answers: one try, a few seconds.
_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
#: MLflow loggers that print a whole traceback chain (SQL statements included) for each failed store
#: call: quiet while the tracker makes such calls, since it reports the failure itself, in one line.
_NOISY_LOGGERS = ("mlflow.store.db.utils",)
_QUIET = threading.local()


class _QuietWhileTracking(logging.Filter):
    """Drop records logged by a thread while it is inside a tracker store call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_QUIET, "active", False)


def _install_quiet_filter() -> None:
    for name in _NOISY_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _QuietWhileTracking) for f in target.filters):
            target.addFilter(_QuietWhileTracking())


#: What MLflow accepts in a param name.
_PARAM_KEY = re.compile(r"^[A-Za-z0-9_\-. :/]+$")


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested config data into dotted ``key -> str(value)`` MLflow params.

    A mapping whose keys MLflow would refuse in a param name (``agent_*`` of a
    policy mapping) stays one param, its text.

    Examples:
        >>> flatten_params({"learner": {"lr": 0.001}, "seed": 1})
        {'learner.lr': '0.001', 'seed': '1'}
        >>> flatten_params({"policy_mapping": {"agent_*": "a"}})
        {'policy_mapping': "{'agent_*': 'a'}"}
    """
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and all(_PARAM_KEY.match(str(k)) for k in value):
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

    Training never waits on, and never fails because of, the tracking store once
    the run has started. Metrics go to the store from a background thread, each
    batch with bounded retries. If the store fails for good (a corrupted or
    deleted database, a server that went away), the tracker warns once, naming
    the store and the error, stops sending, and writes every metric row of the
    run (the ones the store had received too) as JSON lines to
    ``fallback_path``; ``end`` then logs one line saying what did not reach the
    store and where it is (``summary``). A failed artifact upload is reported
    the same way, with the local path, and never raises. What cannot work is
    refused at ``start`` instead, as one ``ConfigError`` line: a server that
    does not answer within a few seconds, a file store MLflow refuses, a store
    that fails before anything is logged.

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
        >>> tracker.summary is None  # everything reached the store
        True
    """

    def __init__(self, config: TrackingConfig) -> None:
        import mlflow

        self.config = config
        self.uri: str = config.uri or mlflow.get_tracking_uri()
        self.client = _client(self.uri)
        _install_quiet_filter()
        self.run_id: str | None = None
        #: Where the metric rows go (JSON lines) if the store fails; the trainer sets it beside the
        #: checkpoints. ``None``: ``mlflow-<run id>.metrics.jsonl`` in the working directory.
        self.fallback_path: Path | None = None
        #: What did not reach the store, in one line, once ``end`` has run (``None``: nothing).
        self.summary: str | None = None
        self._run_name: str | None = None
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._artifact_failure: str | None = None
        self._lost_artifacts: list[str] = []
        self._lost_files: list[str] = []
        self._model_failure: str | None = None
        self._rows = 0
        self._sent = 0
        self._abandoned = False
        # Every row also goes to an anonymous spool file while the store works (cheap, and a corrupted
        # store loses what it had received too); on failure the spool becomes ``fallback_path``.
        self._spool: IO[str] | None = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._local: IO[str] | None = None
        self._local_path: Path | None = None

    def start(
        self, params: Mapping[str, Any], tags: Mapping[str, str] | None = None, *, run_id: str | None = None
    ) -> str:
        """Create the run (or continue ``run_id`` if the store has it), log ``params``; return the run id.

        Continuing a run logs no params again (MLflow params are immutable).

        Raises:
            ConfigError: One line naming ``tracking.uri`` and the fix, if the server does not answer
                within a few seconds or the store fails before the run is created: nothing is lost
                yet, and a run whose tracking would silently go nowhere is worse than no run.
        """
        try:
            self._check_reachable()
            self._start(params, tags, run_id)
        except BaseException as exc:
            if self._spool is not None:
                self._spool.close()
                self._spool = None
            if isinstance(exc, ConfigError) or not isinstance(exc, Exception):
                raise
            raise ConfigError(
                f"tracking.uri: the MLflow store {self.uri} failed at start ({_reason(exc)}); fix it, use another "
                "store (e.g. tracking.uri: sqlite:///mlflow.db), or set tracking.enabled: false"
            ) from exc
        self._thread = threading.Thread(target=self._writer, name="rl8-mlflow", daemon=True)
        self._thread.start()
        assert self.run_id is not None
        return self.run_id

    def _check_reachable(self) -> None:
        """Ask an HTTP tracking server for one experiment, without retries and with a short timeout.

        MLflow's own defaults (7 retries with backoff, 120 s timeouts) turn a
        wrong port into minutes of silence and then a traceback.
        """
        if urlparse(self.uri).scheme not in ("http", "https"):
            return
        try:
            with environ(_PROBE_ENV):
                self.client.search_experiments(max_results=1)
        except Exception as exc:
            if not _caused_by(exc, OSError):  # it answered, with an error: reported as a start failure
                raise
            raise ConfigError(
                f"tracking.uri: no MLflow server answers at {self.uri} ({_reason(exc)}); start it "
                f"(mlflow server --port {urlparse(self.uri).port or 5000}), use a local store "
                "(tracking.uri: sqlite:///mlflow.db), or set tracking.enabled: false"
            ) from exc

    def _start(self, params: Mapping[str, Any], tags: Mapping[str, str] | None, run_id: str | None) -> None:
        from mlflow.exceptions import MlflowException

        if run_id is not None:
            try:
                self.client.update_run(run_id, status="RUNNING")
                self.run_id = run_id
                self._run_name = str(self.client.get_run(run_id).info.run_name)
            except MlflowException:
                logger.info("MLflow run %s not found in %s; starting a new run", run_id, self.uri)
                self.run_id = None
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
            self._run_name = str(run.info.run_name)
            self.log_params(params)

    @property
    def run_name(self) -> str:
        """The run's name as MLflow stored it.

        Read at ``start``: it names the checkpoint directory even if the store fails later.
        """
        if self._run_name is None:
            raise RuntimeError("Tracker.start() has not been called")
        return self._run_name

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params now (flattened to dotted keys, in batches of MLflow's limit)."""
        from mlflow.entities import Param

        flat = flatten_params(params)
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self._run(), params=items[i : i + _MAX_PARAMS_PER_BATCH], synchronous=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Queue metrics for ``step`` (one row); never raises and never waits on the store.

        Non-finite values are dropped (MLflow rejects NaN in some stores).
        """
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        self._rows += 1
        self._queue.put((clean, step, int(time.time() * 1000)))

    def _writer(self) -> None:
        """Send queued rows every ``flush_every_s`` (and on request); stop at ``None``. Never dies."""
        from mlflow.entities import Metric

        pending: list[Metric] = []
        lines: list[str] = []
        rows = 0
        last = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.config.flush_every_s)
            except queue.Empty:
                item = _TICK
            if isinstance(item, tuple):
                metrics, step, ts = item
                pending.extend(Metric(k, v, ts, step) for k, v in metrics.items())
                lines.append(_row_line(metrics, step, ts))
                rows += 1
                if time.monotonic() - last < self.config.flush_every_s:
                    continue
            try:
                self._write_local(lines)
                if pending and not self._abandoned:
                    self._send_metrics(pending, rows)
            except Exception as exc:  # a bug here must not silently stop tracking
                self._fail(exc)
            finally:
                pending, lines, rows = [], [], 0
                last = time.monotonic()
                if isinstance(item, threading.Event):
                    item.set()
            if item is None or self._abandoned:
                return

    def _send_metrics(self, pending: list[Any], rows: int) -> None:
        """Send ``pending`` in MLflow-sized batches, each retried; on failure give up on the store."""
        if self._failure is not None:
            return
        run = self._run()
        for i in range(0, len(pending), _MAX_METRICS_PER_BATCH):
            chunk = pending[i : i + _MAX_METRICS_PER_BATCH]
            try:
                _retry(functools.partial(self.client.log_batch, run, metrics=chunk), lambda: self._abandoned)
            except Exception as exc:
                self._fail(exc)
                return
        self._sent += rows

    def _write_local(self, lines: list[str]) -> None:
        """Append rows to the spool, or to ``fallback_path`` once the store has failed."""
        if not lines:
            return
        with self._lock:
            target = self._local or self._spool
            if target is not None:
                target.write("".join(lines))
                target.flush()

    def _fail(self, exc: BaseException) -> None:
        """Give up on the store (first failure only): move the rows to ``fallback_path``, warn once."""
        with self._lock:
            if self._failure is not None:
                return
            self._failure = _reason(exc)
            problem = self._open_local()
        where = f"every metric row goes to {self._local_path}" if problem is None else problem
        logger.warning(
            "tracking: the MLflow store %s failed (%s); training goes on without it, %s",
            self.uri,
            self._failure,
            where,
        )

    def _open_local(self) -> str | None:
        """Copy the spool to ``fallback_path`` and append there from now on; return a problem, if any."""
        path = self.fallback_path or Path(f"mlflow-{self.run_id}.metrics.jsonl")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            local = path.open("a", encoding="utf-8")
            if self._spool is not None:
                self._spool.seek(0)
                shutil.copyfileobj(self._spool, local)
                local.flush()
                self._spool.close()
                self._spool = None
        except OSError as exc:
            return f"and the metrics cannot be written to {path} either ({exc}); they are lost"
        self._local, self._local_path = local, path
        return None

    def flush(self, timeout_s: float | None = _WAIT_S) -> bool:
        """Write every queued metric now; return whether the writer finished within ``timeout_s``."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Upload a directory (e.g. the final checkpoint) to the run's artifacts; never raises.

        Queued metrics go first. If the store has failed, or the upload fails
        after retries, the directory is listed in ``summary`` with its local
        path, and a finished training stays ``FINISHED``.
        """
        if not self.flush():
            self._fail(TimeoutError(f"no answer within {_WAIT_S:g} s"))
        if self._failure is None:
            try:
                _retry(lambda: self.client.log_artifacts(self._run(), str(local_dir), artifact_path=artifact_path))
                return
            except Exception as exc:
                self._artifact_failure = _reason(exc)
                logger.warning(
                    "tracking: uploading %s to the artifacts of MLflow run %s failed (%s); it is kept locally",
                    local_dir,
                    self.run_id,
                    self._artifact_failure,
                )
        self._lost_artifacts.append(str(local_dir))

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Upload one file (e.g. the learning curves) to the run's artifacts; never raises.

        As ``log_artifacts``: queued metrics go first, and if the store has
        failed, or the upload fails after retries, the file is listed in
        ``summary`` with its local path.
        """
        if not self.flush():
            self._fail(TimeoutError(f"no answer within {_WAIT_S:g} s"))
        if self._failure is None:
            try:
                _retry(lambda: self.client.log_artifact(self._run(), str(local_path), artifact_path=artifact_path))
                return
            except Exception as exc:
                self._artifact_failure = _reason(exc)
                logger.warning(
                    "tracking: uploading %s to the artifacts of MLflow run %s failed (%s); it is kept locally",
                    local_path,
                    self.run_id,
                    self._artifact_failure,
                )
        self._lost_files.append(str(local_path))

    def log_model(self, module: Any, *, name: str = "model", registered_model_name: str | None = None) -> list[str]:
        """Log ``module`` (an RLModule or its directory) as the run's MLflow model ``name``; never raises.

        Optionally registers it under ``registered_model_name``. Returns the
        model's URIs (``runs:/<run id>/model``, then ``models:/<name>/<version>``
        when registered), or none if the store failed: then ``summary`` says
        so, and the checkpoint still holds the module.
        """
        from rl8_core import mlflow as rl8_mlflow

        if not self.flush():
            self._fail(TimeoutError(f"no answer within {_WAIT_S:g} s"))
        if self._failure is None:
            try:
                with _fluent_tracking_uri(self.uri):
                    info = rl8_mlflow.log_model(
                        module, name=name, registered_model_name=registered_model_name, run_id=self._run()
                    )
                version = info.registered_model_version
                uris = [f"runs:/{self.run_id}/{name}"]
                return [*uris, f"models:/{registered_model_name}/{version}"] if version else uris
            except Exception as exc:
                self._model_failure = _reason(exc)
                logger.warning(
                    "tracking: logging the MLflow model of run %s failed (%s); the module is kept in the checkpoint",
                    self.run_id,
                    self._model_failure,
                )
                return []
        self._model_failure = self._failure
        return []

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set run tags (skipped once the store has failed; a failure here gives up on the store)."""
        if self._failure is not None:
            return
        try:
            for key, value in tags.items():
                _retry(functools.partial(self.client.set_tag, self._run(), key, value))
        except Exception as exc:
            self._fail(exc)

    def end(self, status: str = "FINISHED") -> None:
        """Flush metrics and mark the run ``FINISHED``, ``FAILED`` or ``KILLED``; never raises.

        Waits at most about a minute for the store. If anything did not reach
        it, one warning says what, why and where it is (also in ``summary``).
        """
        if self.run_id is None:
            return
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(_WAIT_S)
            if self._thread.is_alive():  # stuck in a store call: leave it, keep its rows locally
                self._abandoned = True
                self._fail(TimeoutError(f"no answer within {_WAIT_S:g} s"))
                self._drain()
            self._thread = None
        status_lost = False
        try:
            run_id = self.run_id
            attempts = 1 if self._failure is not None else _ATTEMPTS
            _bounded(lambda: _retry(lambda: self.client.set_terminated(run_id, status=status), attempts=attempts))
        except Exception as exc:
            self._fail(exc)
            status_lost = True
        with self._lock:
            for handle in (self._local, self._spool):
                if handle is not None:
                    handle.close()
            self._local = self._spool = None
        self.summary = self._summary(status, status_lost)
        if self.summary is not None:
            logger.warning("%s", self.summary)

    def _drain(self) -> None:
        """Write the rows still queued to the local file (the writer is stuck or gone)."""
        lines = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, tuple):
                lines.append(_row_line(*item))
        self._write_local(lines)

    def _summary(self, status: str, status_lost: bool) -> str | None:
        """One line: what did not reach the store, why, and where it is instead."""
        clauses = []
        lost = self._rows - self._sent
        missing = [f"{lost} metric row{'s' if lost != 1 else ''}"] if lost else []
        if status_lost:
            missing.append(f"the run status {status}")
        if missing and self._failure is not None:
            text = f"{' and '.join(missing)} did not reach {self.uri} ({self._failure})"
            if lost and self._local_path is not None:
                text += f"; all {self._rows} rows of this run are in {self._local_path}"
            clauses.append(text)
        if self._lost_artifacts:
            reason = self._artifact_failure or self._failure
            where = ", ".join(self._lost_artifacts)
            clauses.append(
                f"the checkpoint artifacts did not reach MLflow run {self.run_id} ({reason}); "
                f"the checkpoint is in {where}"
            )
        if self._model_failure is not None:
            clauses.append(
                f"the MLflow model was not logged to run {self.run_id} ({self._model_failure}); "
                "the module is in the checkpoint (rl8 export CHECKPOINT DIR writes the model)"
            )
        if self._lost_files:
            reason = self._artifact_failure or self._failure
            clauses.append(
                f"{', '.join(self._lost_files)} did not reach the artifacts of MLflow run {self.run_id} ({reason}); "
                "kept locally"
            )
        return "tracking: " + "; ".join(clauses) if clauses else None

    def _run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("Tracker.start() has not been called")
        return self.run_id


@contextlib.contextmanager
def _fluent_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (which logs models) at ``uri`` for a while, then put everything back.

    MLflow's own ``set_tracking_uri`` cannot be undone: it also sets
    ``MLFLOW_TRACKING_URI``, and "restoring" an unset URI unsets that variable.
    Both the module-level URI and the variable are restored here as they were.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils

    saved, saved_env = getattr(utils, "_tracking_uri", None), os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if saved is not None:
            mlflow.set_tracking_uri(saved)
        else:
            utils._tracking_uri = None
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def _client(uri: str) -> Any:
    """Return an ``MlflowClient`` for ``uri``, or a ``ConfigError`` line saying what to use instead."""
    import mlflow

    try:
        return mlflow.MlflowClient(uri)
    except Exception as exc:
        scheme = urlparse(uri).scheme
        if scheme in ("", "file") or len(scheme) == 1:  # a path, a file: URI, a Windows drive
            raise ConfigError(
                f"tracking.uri: {uri} is a file store, which MLflow {mlflow.__version__} no longer opens by default; "
                "use a database instead, e.g. tracking.uri: sqlite:///mlflow.db (`mlflow migrate-filestore` moves "
                "existing runs), set MLFLOW_ALLOW_FILE_STORE=true to keep the file store, "
                "or set tracking.enabled: false"
            ) from exc
        raise ConfigError(
            f"tracking.uri: MLflow cannot open {uri} ({_reason(exc)}); use e.g. tracking.uri: sqlite:///mlflow.db, "
            "or set tracking.enabled: false"
        ) from exc


def _row_line(metrics: Mapping[str, float], step: int, timestamp: int) -> str:
    """One metric row as a JSON line: ``{"step": ..., "timestamp": <ms>, "metrics": {...}}``."""
    return json.dumps({"step": step, "timestamp": timestamp, "metrics": dict(metrics)}) + "\n"


def _retry(call: Callable[[], object], stop: Callable[[], bool] = lambda: False, *, attempts: int = _ATTEMPTS) -> None:
    """Run ``call`` (a store call; MLflow's tracebacks quiet), retrying with backoff; re-raise the last error."""
    for attempt in range(attempts):
        _QUIET.active = True
        try:
            call()
            return
        except Exception:
            if attempt == attempts - 1 or stop():
                raise
        finally:
            _QUIET.active = False
        time.sleep(_BACKOFF_S * 2**attempt)


def _bounded(call: Callable[[], object], timeout_s: float = _WAIT_S) -> None:
    """Run ``call`` in a daemon thread and wait at most ``timeout_s``: a hung store cannot hang the exit."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="rl8-mlflow-end", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if errors:
        raise errors[0]


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (``__cause__``, else ``__context__``), outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or one of its causes is a ``kind``."""
    return any(isinstance(e, kind) for e in _chain(exc))


def _reason(exc: BaseException) -> str:
    """The root cause of ``exc`` in one short line (e.g. ``database disk image is malformed``).

    Examples:
        >>> try:
        ...     try:
        ...         raise ConnectionRefusedError(111, "Connection refused")
        ...     except OSError as inner:
        ...         raise RuntimeError("API request failed") from inner
        ... except RuntimeError as outer:
        ...     _reason(outer)
        '[Errno 111] Connection refused'
    """
    for cause in reversed(_chain(exc)):
        text = " ".join(str(cause).split("\n", 1)[0].split())
        if text:
            return text if len(text) <= 200 else text[:197] + "..."
    return type(exc).__name__
