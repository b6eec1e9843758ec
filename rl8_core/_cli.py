"""The ``rl8`` command line: ``rl8 train``, ``rl8 eval``, ``rl8 plugins``."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from rl8_core._config import describe_config
from rl8_core._registry import PluginInfo, get_registry
from rl8_core.errors import CheckpointError, ConfigError, PluginError, UnknownComponentError

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
    return "\n".join(lines) if lines else "(no plugins found)"


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every plugin with its distribution, version, status and contributions."""
    plugins = get_registry().plugins()
    if args.json:
        print(json.dumps([p.to_json() for p in plugins], indent=2))
    else:
        print(_plugins_table(plugins))
    return 0


def _options_text() -> str:
    from rl8_core._train_config import TrainConfig

    lines = ["config options (YAML/JSON keys; nested ones with dots in --set):"]
    for key, tp, default, doc in describe_config(TrainConfig):
        lines.append(f"  {key} ({tp}, default {default})")
        if doc:
            lines.extend(textwrap.wrap(doc, 76, initial_indent="      ", subsequent_indent="      "))
    try:
        from rl8_core._algorithm import Algorithm

        ppo = get_registry().get("algorithm", "ppo")
        if isinstance(ppo, type) and issubclass(ppo, Algorithm):
            lines.append("")
            lines.append("algorithm_config options of the default algorithm (ppo):")
            for key, tp, default, doc in describe_config(ppo.config_class):
                lines.append(f"  algorithm_config.{key} ({tp}, default {default})")
                if doc:
                    lines.extend(textwrap.wrap(doc, 76, initial_indent="      ", subsequent_indent="      "))
    except (UnknownComponentError, PluginError):
        pass
    return "\n".join(lines)


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a config file (or the CartPole default), or resume a checkpoint."""
    from rl8_core._train_config import QUICKSTART, TrainConfig, apply_overrides
    from rl8_core._trainer import Trainer

    if args.resume:
        trainer = Trainer.from_checkpoint(args.resume, overrides=args.set)
    else:
        if args.config is None:
            config = TrainConfig.from_mapping(apply_overrides(QUICKSTART, args.set), path="quickstart")
        else:
            config = TrainConfig.from_file(args.config, args.set)
        trainer = Trainer(config)
    with trainer:
        result = trainer.run()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a saved training checkpoint on fresh episodes of its env."""
    from rl8_core._module import RLModule
    from rl8_core._runner import evaluate
    from rl8_core._train_config import TrainConfig
    from rl8_core._trainer import _find_checkpoint, make_env

    ckpt = _find_checkpoint(Path(args.checkpoint))
    config = TrainConfig.from_file(ckpt / "config.yaml", args.set)
    module = RLModule.from_checkpoint(ckpt / "module")
    env = make_env(config.env, config.env_config, num_envs=min(config.eval.num_envs, args.episodes), seed=args.seed)
    try:
        result = evaluate(module, env, episodes=args.episodes, deterministic=not args.stochastic, seed=args.seed)
    finally:
        env.close()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(
            f"{int(result['eval/episodes'])} episodes: return {result['eval/return_mean']:.2f} "
            f"+- {result['eval/return_std']:.2f} (min {result['eval/return_min']:.2f}, "
            f"max {result['eval/return_max']:.2f}), length {result['eval/length_mean']:.1f}"
        )
    return 0


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
        "(examples/cartpole.yaml). Options below are the defaults of a config file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    t.add_argument("-h", "--help", action=_TrainHelp, help="show this help and every config option")
    t.add_argument("config", nargs="?", help="YAML or JSON config file")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    t.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint or run directory")
    t.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint")
    e.add_argument("checkpoint", help="checkpoint directory (or run directory with a 'latest' file)")
    e.add_argument("--episodes", type=int, default=10, help="episodes to run (default 10)")
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of acting deterministically")
    e.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=cmd_eval)
    return parser


class _TrainHelp(argparse.Action):
    """Print ``rl8 train``'s help followed by every config option (computed only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=str(kwargs.get("help", "")))

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.print_help()
        print()
        print(_options_text())
        parser.exit()


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
