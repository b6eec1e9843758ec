"""The ``rl8`` command line: ``rl8 train``, ``eval``, ``export``, ``record``, ``plot`` and ``plugins``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rl8_core.checkpoints import module as module_dir
from rl8_core.checkpoints import run as run_dir
from rl8_core.columns import Metrics
from rl8_core.components.env import BatchedEnv
from rl8_core.components.module import RLModule
from rl8_core.components.multi_env import MultiAgentBatchedEnv
from rl8_core.components.multi_module import MultiRLModule, is_multi_module_dir, load_module
from rl8_core.config import describe_config
from rl8_core.envs.make import make_env
from rl8_core.errors import (
    CheckpointError,
    ConfigError,
    EnvRunnerError,
    NonFiniteError,
    PluginError,
    Terminated,
    UnknownComponentError,
)
from rl8_core.plugins.registry import PluginInfo, get_registry
from rl8_core.training.config import TrainConfig
from rl8_core.training.evaluate import evaluate
from rl8_core.training.multi_agent import evaluate_multi_agent, map_agents, wrap_env
from rl8_core.training.plots import is_plotted, plot_curves, read_runs
from rl8_core.training.record import record_clip, video_format
from rl8_core.training.setup import resolve_parts
from rl8_core.training.trainer import Trainer
from specs import SpecError

#: Errors shown as one message rather than a traceback.
USER_ERRORS = (
    ConfigError,
    CheckpointError,
    EnvRunnerError,
    PluginError,
    UnknownComponentError,
    FileNotFoundError,
    ImportError,
)

__all__ = ["main"]


def _plugins_table(plugins: list[PluginInfo]) -> str:
    lines = []
    for p in plugins:
        dist = f"{p.distribution} {p.version}" if p.distribution else p.source
        status = p.status if p.reason is None else f"{p.status}: {p.reason}"
        lines.append(f"{p.name}  [{dist}]  {status}")
        for kind, names in sorted(p.contributions.items()):
            lines.append(f"    {kind}: {', '.join(names)}")
        if p.is_slow:
            lines.append(f"    slow import: {p.import_seconds:.2f} s")
        if p.output:
            first = p.output.strip().splitlines()[0] if p.output.strip() else ""
            lines.append(f"    printed while loading ({len(p.output)} characters, not shown on stdout): {first!r}")
    return "\n".join(lines) if lines else "(no plugins found)"


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every plugin with its distribution, version, status and contributions; exit 1 if any failed."""
    plugins = get_registry().plugins()
    if args.json:
        print(json.dumps([p.to_json() for p in plugins], indent=2))
    else:
        print(_plugins_table(plugins))
    return 1 if any(p.is_failed for p in plugins) else 0


def _check_plugins_strictly() -> None:
    """Raise ``PluginError`` naming every plugin that failed or conflicts (``rl8 train --strict``)."""
    failed = [p for p in get_registry().plugins() if p.is_failed]
    if failed:
        raise PluginError(
            "--strict: plugins did not load: "
            + "; ".join(f"{p.name!r} ({p.status}: {p.reason})" for p in failed)
            + ". Fix or uninstall them, or skip them with RL8_DISABLE_PLUGINS=<plugin name>"
        )


def _option_lines(config_class: type, prefix: str = "") -> list[str]:
    lines = []
    for key, tp, default, doc in describe_config(config_class):
        lines.append(f"  {prefix}{key} ({tp}, default {default})")
        if doc:
            lines.extend(textwrap.wrap(doc, 76, initial_indent="      ", subsequent_indent="      "))
    return lines


def _load_config(args: argparse.Namespace) -> TrainConfig:
    """Return the config ``rl8 train`` runs: the file (or the CartPole quickstart) with ``--set`` applied."""
    if args.config is None:
        return TrainConfig.quickstart(args.set)
    return TrainConfig.from_file(args.config, args.set)


def _options_text(args: argparse.Namespace) -> str:
    """List every config option, then those of the algorithm and catalog that the given config names."""
    lines = ["config options (YAML/JSON keys; nested ones with dots in --set):", *_option_lines(TrainConfig)]
    try:
        config = _load_config(args)
        parts = resolve_parts(config, get_registry())
    except USER_ERRORS as exc:
        lines += ["", f"(the options of the config's algorithm and catalog are not listed: {exc})"]
        return "\n".join(lines)
    alg = parts.algorithm
    lines += ["", f"algorithm_config options of algorithm {alg.name!r} ({alg.source_text()}):"]
    lines += _option_lines(parts.algorithm_class.config_class, "algorithm_config.")
    catalog = parts.catalog_class or parts.module_class.default_catalog_class
    model_config_class = getattr(catalog, "config_class", None)
    if catalog is not None and model_config_class is not None:
        name = f"{catalog.__module__}:{getattr(catalog, '__qualname__', '?')}"
        lines += ["", f"model_config options of catalog {name}:"]
        lines += _option_lines(model_config_class, "model_config.")
    return "\n".join(lines)


def _run_ended(exc: BaseException, saved: Path | None) -> int:
    """Say in one line why a run ended early and where its last completed iteration is; return the exit status.

    A user error (bad config, a spec mismatch) exits 2, a signal 128 + its
    number, anything else 1. An unexpected error's traceback goes to
    ``error.log`` beside the checkpoint, not to the terminal.
    """
    if isinstance(exc, KeyboardInterrupt):
        cause, status = "interrupted (Ctrl-C)", 128 + signal.SIGINT
    elif isinstance(exc, Terminated):
        cause, status = f"terminated by signal {exc.signum}", 128 + exc.signum
    elif isinstance(exc, SpecError):
        cause, status = _one_line(exc), 2
    elif isinstance(exc, (*USER_ERRORS, NonFiniteError)):
        cause, status = str(exc), 2 if isinstance(exc, USER_ERRORS) else 1
    else:
        cause, status = f"{type(exc).__name__}: {' '.join(str(exc).split())}", 1
    if saved is None:
        where = "nothing was saved (no iteration had completed)"
    else:
        where = f"the last completed iteration is saved in {saved}; resume with: rl8 train --resume {saved}"
        if status == 1 and not isinstance(exc, NonFiniteError):
            log = saved.parent / "error.log"
            log.write_text("".join(traceback.format_exception(exc)))
            where += f" (traceback in {log})"
    print(f"rl8 train: error: {cause}; {where}", file=sys.stderr)
    return status


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a config file (or the CartPole default), or resume a checkpoint."""
    if args.help:
        args.parser.print_help()
        print()
        print(_options_text(args))
        raise SystemExit(0)
    if args.strict:
        _check_plugins_strictly()
    trainer = Trainer.from_checkpoint(args.resume, overrides=args.set) if args.resume else Trainer(_load_config(args))
    with trainer:
        try:
            result = trainer.run()
        except (Exception, KeyboardInterrupt, Terminated) as exc:
            return _run_ended(exc, trainer.saved_on_exit)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _one_line(exc: SpecError) -> str:
    """Return a ``SpecError`` as one line: its context, then its mismatches separated by ``;``."""
    return f"{exc.context or 'data'} does not match its spec: " + "; ".join(str(m) for m in exc.mismatches)


def _load_checkpoint(args: argparse.Namespace) -> tuple[TrainConfig, RLModule | MultiRLModule]:
    """Return the config (with ``--set`` applied) and the module of the training checkpoint ``args.checkpoint``."""
    ckpt = run_dir.find_checkpoint(args.checkpoint)
    config = TrainConfig.from_file(run_dir.config_file(ckpt), args.set)
    return config, load_module(run_dir.module_path(ckpt))


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a saved training checkpoint on fresh episodes of its env (per module for a multi-agent one)."""
    config, module = _load_checkpoint(args)
    num_envs = min(config.eval.num_envs, args.episodes)
    env = wrap_env(make_env(config.env, config.env_config, num_envs=num_envs, seed=args.seed), config.multi_agent)
    options: dict[str, Any] = {
        "episodes": args.episodes,
        "deterministic": not args.stochastic,
        "seed": args.seed,
        "check_specs": config.check_specs,
    }
    try:
        if isinstance(env, MultiAgentBatchedEnv):
            if not isinstance(module, MultiRLModule):
                raise ConfigError(f"{args.checkpoint}: its env is multi-agent but it holds a single RLModule")
            mapping = map_agents(env.agents, config.multi_agent.policy_mapping)
            result = evaluate_multi_agent(module, env, mapping, **options)
        else:
            if isinstance(module, MultiRLModule):
                raise ConfigError(f"{args.checkpoint}: it holds a MultiRLModule but its env is single-agent")
            result = evaluate(module, env, **options)
    finally:
        env.close()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(
        f"{int(result[Metrics.EVAL_EPISODES])} episodes: return {result[Metrics.EVAL_RETURN_MEAN]:.2f} "
        f"+- {result[Metrics.EVAL_RETURN_STD]:.2f} (min {result[Metrics.EVAL_RETURN_MIN]:.2f}, "
        f"max {result[Metrics.EVAL_RETURN_MAX]:.2f}), length {result[Metrics.EVAL_LENGTH_MEAN]:.1f}"
    )
    prefix = f"{Metrics.EVAL_RETURN_MEAN}/"
    for key, value in result.items():
        if key.startswith(prefix):
            print(f"  module {key[len(prefix) :]}: return {value:.2f}")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record a video clip of a checkpoint's policy on its env; options not given come from its ``record:``."""
    if args.out is not None:
        video_format(args.out)  # a bad suffix fails before anything loads
    config, module = _load_checkpoint(args)
    if isinstance(module, MultiRLModule):
        raise ConfigError(f"{args.checkpoint}: clips of multi-agent runs are not supported; record a single-agent one")
    rec = config.record
    out = args.out if args.out is not None else f"clip.{rec.format}"
    env = make_env(config.env, config.env_config, num_envs=1, seed=args.seed, render=True)
    assert isinstance(env, BatchedEnv)  # a multi-agent checkpoint holds a MultiRLModule, refused above
    try:
        clip = record_clip(
            module,
            env,
            out,
            episodes=args.episodes or rec.episodes,
            fps=args.fps or rec.fps,
            max_steps=args.max_steps or rec.max_steps,
            deterministic=rec.deterministic if args.deterministic is None else args.deterministic,
            random_actions=args.random,
            seed=args.seed,
            check_specs=config.check_specs,
        )
    finally:
        env.close()
    returns = ", ".join(f"{r:.2f}" for r in clip["returns"]) or "none"
    cut = f", cut short at {clip['steps']} steps (--max-steps)" if clip["cut_short"] else ""
    print(
        f"clip written to {clip['path']}: {clip['frames']} frames, {clip['episodes']} episodes, returns {returns}{cut}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write an MLflow model (pyfunc and rl8_core flavours) from a checkpoint or a module directory."""
    from rl8_core import mlflow as rl8_mlflow

    source = Path(args.checkpoint)
    module = (
        source if (source / module_dir.META_FILE).is_file() else run_dir.module_path(run_dir.find_checkpoint(source))
    )
    if is_multi_module_dir(module):
        ids = [p.name for p in sorted(module.iterdir()) if (p / module_dir.META_FILE).is_file()]
        if args.module is None:
            raise ConfigError(
                f"{source} holds a multi-agent module; export one policy with --module ID ({', '.join(ids)})"
            )
        if args.module not in ids:
            raise ConfigError(f"--module {args.module}: {source} has no such module; its modules: {', '.join(ids)}")
        module = module / args.module
    elif args.module is not None:
        raise ConfigError(f"--module {args.module}: {source} holds a single module; leave --module out")
    out = Path(args.out_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; name a new directory for the model")
    rl8_mlflow.save_model(module, out)
    print(f"MLflow model written to {out}; serve it with: mlflow models serve -m {out} --env-manager local")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw the learning curves of MLflow runs (by run id, checkpoint or run directory) into one PNG."""
    extra = list(args.metrics)
    # With --metrics, every metric is read: a key no run has is then reported with the keys they do have.
    runs = read_runs(args.runs, args.tracking_uri, keys=None if extra else is_plotted)
    print(plot_curves(runs, args.out, metrics=extra))
    return 0


def _positive_int(text: str) -> int:
    """An argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``rl8`` command."""
    parser = argparse.ArgumentParser(prog="rl8", description="rl8: reinforcement learning built from plugins.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plugins", help="list installed plugins and what they contribute")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_plugins)

    t = sub.add_parser(
        "train",
        help="train a policy (no config: PPO on CartPole-v1)",
        description="Train a policy from a YAML/JSON config; with no config, PPO tuned for CartPole-v1 "
        "(examples/cartpole.yaml). Options below are the defaults of a config file; with a config "
        "(and --set), the options of the algorithm and catalog it names follow.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    t.add_argument("-h", "--help", action="store_true", help="show this help and every config option")
    t.add_argument("config", nargs="?", help="YAML or JSON config file")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    t.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue from a checkpoint or run directory (its 'latest'); only from a trusted source: "
        "loading a checkpoint unpickles the module's classes, which can run code",
    )
    t.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    t.add_argument(
        "--strict", action="store_true", help="refuse to run if any plugin failed to load or conflicts (exit 2)"
    )
    t.set_defaults(func=cmd_train, parser=t)

    e = sub.add_parser(
        "eval",
        help="evaluate a checkpoint",
        description="Evaluate a training checkpoint on fresh episodes of its env. Only evaluate checkpoints from a "
        "trusted source: loading one unpickles the module's classes, which can run code.",
    )
    e.add_argument("checkpoint", help="checkpoint directory (or run directory with a 'latest' file)")
    e.add_argument("--episodes", type=_positive_int, default=10, help="episodes to run (default 10)")
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of acting deterministically")
    e.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=cmd_eval)
    x = sub.add_parser(
        "export",
        help="write an MLflow model from a checkpoint",
        description="Write the module of a checkpoint as an MLflow model directory (pyfunc flavour: "
        "mlflow.pyfunc.load_model, mlflow models serve/predict, the model registry). Only export checkpoints "
        "from a trusted source: loading one unpickles the module's classes, which can run code.",
    )
    x.add_argument("checkpoint", help="checkpoint, run directory (its 'latest') or module directory")
    x.add_argument("out_dir", help="directory to create for the model (must not exist or be empty)")
    x.add_argument("--module", metavar="ID", help="module id to export from a multi-agent checkpoint")
    x.set_defaults(func=cmd_export)
    r = sub.add_parser(
        "record",
        help="record a video clip of a checkpoint's policy",
        description="Play episodes of a training checkpoint's env with its policy and write them as an MP4 or GIF "
        "(the suffix of --out decides; needs pip install 'rl8-core[video]'). Options not given come from the "
        "checkpoint config's record: section. Only record checkpoints from a trusted source: loading one "
        "unpickles the module's classes, which can run code.",
    )
    r.add_argument("checkpoint", help="checkpoint directory (or run directory with a 'latest' file)")
    r.add_argument("--out", help="clip to write, ending in .mp4 or .gif (default clip.<record.format>)")
    r.add_argument("--episodes", type=_positive_int, help="episodes to play (default record.episodes)")
    r.add_argument("--fps", type=_positive_int, help="frames per second (default record.fps)")
    r.add_argument(
        "--max-steps",
        type=_positive_int,
        help="stop after this many steps in all, even mid-episode (default record.max_steps)",
    )
    acting = r.add_mutually_exclusive_group()
    acting.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="act deterministically (default record.deterministic)",
    )
    acting.add_argument(
        "--stochastic",
        action="store_false",
        dest="deterministic",
        default=None,
        help="sample actions instead of acting deterministically",
    )
    r.add_argument("--random", action="store_true", help="act with random actions of the action spec, not the policy")
    r.add_argument("--seed", type=int, default=12345, help="seed of the env (and of --random)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    r.set_defaults(func=cmd_record)
    g = sub.add_parser(
        "plot",
        help="draw the learning curves of runs into a PNG",
        description="Draw the learning curves of MLflow runs into one PNG: the return (evaluation returns as "
        "points), the episode length, the losses and the throughput against env steps, one colour per run, "
        "labelled by run name. Needs matplotlib: pip install 'rl8-core[plot]'.",
    )
    g.add_argument("runs", nargs="+", metavar="RUN", help="an MLflow run id, or a checkpoint or run directory")
    g.add_argument("--out", default="curves.png", help="the PNG to write (default curves.png)")
    g.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the MLflow store of the runs (default: a checkpoint's tracking.uri, else MLFLOW_TRACKING_URI, "
        "else sqlite:///mlflow.db)",
    )
    g.add_argument(
        "--metrics",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY",
        help="more metrics to draw, one panel each (e.g. learner/lr)",
    )
    g.set_defaults(func=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rl8`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        try:
            status: int = args.func(args)
        except USER_ERRORS as exc:
            print(f"rl8 {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except SpecError as exc:
            # Multi-line in general (one line per mismatch); one line here, like the other user errors.
            print(f"rl8 {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        return status
    except BrokenPipeError:
        # Output piped into e.g. `head`, which stopped reading: not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
