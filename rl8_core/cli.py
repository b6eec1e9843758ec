"""The ``rl8`` command line: ``rl8 train``, ``rl8 eval``, ``rl8 plugins``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path

from rl8_core.checkpoints import run as run_dir
from rl8_core.columns import Metrics
from rl8_core.components.module import RLModule
from rl8_core.config import describe_config
from rl8_core.envs.make import make_env
from rl8_core.errors import CheckpointError, ConfigError, NonFiniteError, PluginError, Terminated, UnknownComponentError
from rl8_core.plugins.registry import PluginInfo, get_registry
from rl8_core.training.config import TrainConfig
from rl8_core.training.evaluate import evaluate
from rl8_core.training.setup import resolve_parts
from rl8_core.training.trainer import Trainer
from specs import SpecError

#: Errors shown as one message rather than a traceback.
USER_ERRORS = (ConfigError, CheckpointError, PluginError, UnknownComponentError, FileNotFoundError, ImportError)

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


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a saved training checkpoint on fresh episodes of its env."""
    ckpt = run_dir.find_checkpoint(args.checkpoint)
    config = TrainConfig.from_file(run_dir.config_file(ckpt), args.set)
    module = RLModule.from_checkpoint(run_dir.module_path(ckpt))
    env = make_env(config.env, config.env_config, num_envs=min(config.eval.num_envs, args.episodes), seed=args.seed)
    try:
        result = evaluate(
            module,
            env,
            episodes=args.episodes,
            deterministic=not args.stochastic,
            seed=args.seed,
            check_specs=config.check_specs,
        )
    except SpecError as exc:
        # Multi-line in general; one line here, like the other user errors (SpecError is not in USER_ERRORS).
        print(f"rl8 eval: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        env.close()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(
            f"{int(result[Metrics.EVAL_EPISODES])} episodes: return {result[Metrics.EVAL_RETURN_MEAN]:.2f} "
            f"+- {result[Metrics.EVAL_RETURN_STD]:.2f} (min {result[Metrics.EVAL_RETURN_MIN]:.2f}, "
            f"max {result[Metrics.EVAL_RETURN_MAX]:.2f}), length {result[Metrics.EVAL_LENGTH_MEAN]:.1f}"
        )
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
        return status
    except BrokenPipeError:
        # Output piped into e.g. `head`, which stopped reading: not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
