"""Learning curves: a run's metric history as a ``pandas.DataFrame``, and a PNG of its curves.

``read_run_metrics`` reads what a run logged to MLflow (every process that
logged into it: a resumed run continues the same MLflow run), one row per
env step. ``MetricHistory`` keeps the same rows in memory for a run without
tracking. ``plot_curves`` draws one or several runs into one PNG with
matplotlib (the ``plot`` extra), imported only when drawing; the figure is
drawn without pyplot, so no window ever opens.
"""

from __future__ import annotations

import contextlib
import math
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from rl8_core.checkpoints import run as run_dir
from rl8_core.columns import Metrics
from rl8_core.environ import environ
from rl8_core.errors import ConfigError
from rl8_core.training.config import TrainConfig

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CURVES_FILE",
    "INDEX",
    "MetricHistory",
    "draw_curves",
    "is_plotted",
    "metrics_frame",
    "plot_curves",
    "read_run_metrics",
    "read_runs",
]

#: The file name of the learning curves a finished run leaves beside its final checkpoint (and in its MLflow run).
CURVES_FILE = "curves.png"
#: The index of a metrics frame: the env steps at which a row was logged (the MLflow step).
INDEX = "env_steps"
_LOSSES = "losses/"
#: MLflow's HTTP settings while the store is first asked: one try, a few seconds (its defaults retry for minutes).
_PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
_STYLES = ("-", "--", ":", "-.")


def is_plotted(key: str) -> bool:
    """Whether the default panels of ``plot_curves`` draw the metric ``key`` (or index by it).

    Examples:
        >>> is_plotted("losses/vf"), is_plotted("learner/lr")
        (True, False)
    """
    return key.startswith(_LOSSES) or key in (
        Metrics.RETURN_MEAN,
        Metrics.EVAL_RETURN_MEAN,
        Metrics.LENGTH_MEAN,
        Metrics.ENV_STEPS_PER_S,
        Metrics.ENV_STEPS,
    )


def metrics_frame(records: Iterable[tuple[str, int, int, float]]) -> pd.DataFrame:
    """Return one row per step from ``(key, step, timestamp, value)`` records, in any order.

    The records may come from several processes that logged into one run: a
    run resumed from a checkpoint logs again from the checkpoint's step on. A
    record is dropped once a record logged after it has a smaller step (the
    earlier process went further than the checkpoint the run resumed from),
    and of the records left for one key and step, the last logged wins.

    Examples:
        >>> frame = metrics_frame([("a", 1, 10, 1.0), ("a", 2, 20, 2.0), ("a", 2, 30, 5.0), ("b", 1, 10, 3.0)])
        >>> frame.to_dict()
        {'a': {1: 1.0, 2: 5.0}, 'b': {1: 3.0, 2: nan}}
        >>> frame.index.name
        'env_steps'
    """
    import pandas

    long = pandas.DataFrame.from_records(list(records), columns=["key", "step", "timestamp", "value"])
    if long.empty:
        return pandas.DataFrame(index=pandas.Index([], dtype="int64", name=INDEX))
    long = long.sort_values(["timestamp", "step"], kind="stable").reset_index(drop=True)
    steps = long["step"]
    # The smallest step logged after each record (at the last record: none).
    later = steps[::-1].cummin()[::-1].shift(-1)
    long = long[later.isna() | (steps <= later)]
    long = long.drop_duplicates(["key", "step"], keep="last")
    frame = long.pivot(index="step", columns="key", values="value").sort_index()
    frame.index = frame.index.astype("int64")
    frame.index.name = INDEX
    frame.columns.name = None
    return frame


class MetricHistory:
    """The metrics of one process by env step, compactly, for curves without MLflow.

    Args:
        keep: Which metric keys to keep (default: all).

    Examples:
        >>> history = MetricHistory(is_plotted)
        >>> history.add({"episodes/return_mean": 9.0, "learner/lr": 0.1}, step=64)
        >>> history.frame().to_dict()
        {'episodes/return_mean': {64: 9.0}}
    """

    def __init__(self, keep: Callable[[str], bool] | None = None) -> None:
        self._keep = keep
        self._keys: dict[str, int] = {}
        self._key = array("l")
        self._step = array("q")
        self._value = array("d")

    def add(self, metrics: Mapping[str, float], step: int) -> None:
        """Keep the finite values of ``metrics`` logged at ``step``."""
        for key, value in metrics.items():
            if self._keep is not None and not self._keep(key):
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            self._key.append(self._keys.setdefault(key, len(self._keys)))
            self._step.append(step)
            self._value.append(float(value))

    def __len__(self) -> int:
        return len(self._value)

    def frame(self) -> pd.DataFrame:
        """Return the rows kept so far, one per step (as ``metrics_frame``)."""
        names = list(self._keys)
        return metrics_frame(
            (names[k], s, i, v) for i, (k, s, v) in enumerate(zip(self._key, self._step, self._value, strict=True))
        )


@contextlib.contextmanager
def _probing(uri: str) -> Iterator[None]:
    """Make MLflow give up fast on an HTTP store that does not answer (inside the block)."""
    if urlparse(uri).scheme not in ("http", "https"):
        yield
        return
    with environ(_PROBE_ENV):
        yield


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _open_store(uri: str) -> Any:
    """Return an ``MlflowClient`` for an existing store; a ``ConfigError`` if there is none at ``uri``.

    A sqlite database that does not exist is refused rather than created (MLflow would create it).
    """
    import mlflow

    if uri.startswith("sqlite:///"):
        database = uri.removeprefix("sqlite:///").split("?", 1)[0]
        if database and database != ":memory:" and not Path(database).is_file():
            raise ConfigError(f"there is no MLflow store at {uri}: {database} does not exist")
    try:
        return mlflow.MlflowClient(uri)
    except Exception as exc:
        raise ConfigError(f"MLflow cannot open the store {uri} ({_reason(exc)})") from exc


def _get_run(client: Any, run_id: str, uri: str) -> Any:
    from mlflow.exceptions import MlflowException

    with _probing(uri):
        try:
            return client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise ConfigError(f"no MLflow run {run_id!r} in {uri}") from None
            raise ConfigError(f"reading MLflow run {run_id!r} from {uri} failed ({_reason(exc)})") from exc
        except Exception as exc:
            raise ConfigError(f"reading MLflow run {run_id!r} from {uri} failed ({_reason(exc)})") from exc


def _history(client: Any, run: Any, keys: Callable[[str], bool] | None) -> pd.DataFrame:
    run_id = run.info.run_id
    records: list[tuple[str, int, int, float]] = []
    for key in sorted(run.data.metrics):
        if keys is None or keys(key):
            records.extend((key, m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))
    return metrics_frame(records)


def read_run_metrics(run_id: str, tracking_uri: str, *, keys: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Return the metric history of an MLflow run: one row per env step, one column per metric.

    The index (``env_steps``) is the MLflow step, which is the env-step count
    when the row was logged; the ``counters/env_steps`` column is the same
    number as logged with the training metrics. An evaluation shares the row
    of the iteration it followed. Rows logged by every process of the run
    count: after a resume, what the resumed process logged replaces what the
    earlier one logged from that step on (see ``metrics_frame``).

    Args:
        run_id: The MLflow run.
        tracking_uri: Its store (``sqlite:///mlflow.db``, ``http://...``).
        keys: Which metrics to read (default: every metric of the run).

    Raises:
        ConfigError: If the store does not exist or cannot be read, or has no such run.
    """
    client = _open_store(tracking_uri)
    run = _get_run(client, run_id, tracking_uri)
    try:
        return _history(client, run, keys)
    except Exception as exc:
        raise ConfigError(
            f"reading the metrics of MLflow run {run_id} from {tracking_uri} failed ({_reason(exc)})"
        ) from exc


def read_runs(
    sources: Sequence[str], tracking_uri: str | None = None, *, keys: Callable[[str], bool] | None = None
) -> dict[str, pd.DataFrame]:
    """Return the metric history of each run, by label (its run name), for ``plot_curves``.

    Args:
        sources: MLflow run ids, or checkpoints or run directories (their metadata names the MLflow run).
        tracking_uri: The store of the runs. ``None``: a checkpoint's ``tracking.uri``, else
            ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working directory.
        keys: Which metrics to read (default: all).

    Raises:
        ConfigError: For a store that does not exist, an unknown run, a run without metrics, or a
            checkpoint trained without tracking.
        CheckpointError: For a directory that is not a checkpoint or run directory.
    """
    import mlflow

    found: list[tuple[str, str, pd.DataFrame]] = []
    for source in sources:
        uri = tracking_uri
        path = Path(source)
        if path.exists() or os.sep in source or "/" in source:
            ckpt = run_dir.find_checkpoint(path)
            run_id = run_dir.read_meta(ckpt).get("run_id")
            if not run_id:
                raise ConfigError(
                    f"{source}: this run was trained with tracking.enabled: false, so no MLflow run holds its "
                    f"metrics (its own {CURVES_FILE} is in {ckpt.parent})"
                )
            if uri is None:
                uri = TrainConfig.from_file(run_dir.config_file(ckpt)).tracking.uri
        else:
            run_id = source
        uri = uri or mlflow.get_tracking_uri()
        client = _open_store(uri)
        run = _get_run(client, run_id, uri)
        frame = _history(client, run, keys)
        if frame.empty:
            raise ConfigError(f"MLflow run {run_id} in {uri} has no metrics to plot")
        found.append((str(run.info.run_name or run_id), run_id, frame))
    names = [name for name, _, _ in found]
    return {(f"{name} ({run_id[:8]})" if names.count(name) > 1 else name): frame for name, run_id, frame in found}


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "drawing learning curves needs matplotlib: pip install 'rl8-core[plot]' (or set tracking.log_curves: false)"
        ) from None
    return Figure


def _series(frame: pd.DataFrame, key: str) -> pd.Series[float] | None:
    if key not in frame.columns:
        return None
    series = frame[key].dropna()
    return series if not series.empty else None


def draw_curves(runs: Mapping[str, pd.DataFrame], metrics: Sequence[str] = ()) -> Figure:
    """Return a figure of the learning curves of ``runs`` (label -> frame of ``read_run_metrics``).

    Panels, all against env steps: the return (``episodes/return_mean``, and
    ``eval/return_mean`` as points), the episode length, every ``losses/*``
    metric (symmetric log scale: losses differ by orders of magnitude), the
    throughput (``perf/env_steps_per_s``), then one panel per key of
    ``metrics``. Each run has its colour, and a legend names the runs.

    Raises:
        ConfigError: If matplotlib is missing, or no run has one of ``metrics``.
    """
    figure_class = _figure_class()
    for key in metrics:
        if not any(key in frame.columns for frame in runs.values()):
            known = sorted({k for frame in runs.values() for k in frame.columns})
            raise ConfigError(f"no run has the metric {key!r}; they have: {', '.join(known)}")
    panels: list[tuple[str, list[str]]] = [
        ("return", [Metrics.RETURN_MEAN]),
        ("episode length", [Metrics.LENGTH_MEAN]),
        ("losses", sorted({k for frame in runs.values() for k in frame.columns if k.startswith(_LOSSES)})),
        ("throughput (env steps/s)", [Metrics.ENV_STEPS_PER_S]),
        *((key, [key]) for key in metrics),
    ]
    rows = math.ceil(len(panels) / 2)
    figure = figure_class(figsize=(12, 3.6 * rows))
    # Fixed margins: a constrained layout measures every tick label first, about half the drawing time.
    axes = figure.subplots(
        rows, 2, squeeze=False, gridspec_kw={"left": 0.07, "right": 0.98, "bottom": 0.15 / rows, "top": 1 - 0.08 / rows}
    ).ravel()
    figure.subplots_adjust(hspace=0.45, wspace=0.18)
    for ax, (title, keys) in zip(axes, panels, strict=False):
        _draw_panel(ax, title, keys, runs)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return figure


def _draw_panel(ax: Axes, title: str, keys: list[str], runs: Mapping[str, pd.DataFrame]) -> None:
    ax.set_title(title)
    ax.set_xlabel("env steps")
    ax.grid(True, alpha=0.3)
    several = len(keys) > 1
    for number, (label, frame) in enumerate(runs.items()):
        color = f"C{number % 10}"
        for style, key in zip(_STYLES * len(keys), keys, strict=False):
            series = _series(frame, key)
            if series is not None:
                name = f"{label}: {key.removeprefix(_LOSSES)}" if several else label
                ax.plot(series.index, series.to_numpy(), color=color, linestyle=style, label=name)
        if title == "return":
            evals = _series(frame, Metrics.EVAL_RETURN_MEAN)
            if evals is not None:
                ax.plot(evals.index, evals.to_numpy(), "o", color=color, markersize=4, label=f"{label} (eval)")
    if title == "losses" and ax.lines:
        ax.set_yscale("symlog", linthresh=1e-3)
    if ax.lines:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")


def plot_curves(runs: Mapping[str, pd.DataFrame], path: str | Path, *, metrics: Sequence[str] = ()) -> Path:
    """Draw the learning curves of ``runs`` (see ``draw_curves``) into the PNG ``path``; return it.

    Raises:
        ConfigError: If matplotlib is missing (``pip install 'rl8-core[plot]'``), ``runs`` is empty,
            or no run has one of ``metrics``.
    """
    if not runs:
        raise ConfigError("no runs to plot")
    path = Path(path)
    figure = draw_curves(runs, metrics)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
