"""Drift tests: the docs must say what the code does.

Each test reads a fact from the code (hookspecs, ``Columns``, rule tables, CLI
options, config fields, metric names, environment variables, entry points)
and checks that the docs state it, so that a change to one without the other
fails here.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib.metadata as metadata
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalogs import ActorCriticConfig, Catalog, ModelConfig
from rl8_core import (
    HOOKS,
    CheckpointConfig,
    Columns,
    EvalConfig,
    GuardsConfig,
    LearnerConfig,
    Metrics,
    MultiAgentConfig,
    RecordConfig,
    ScaleConfig,
    StopConfig,
    TrackingConfig,
    TrainConfig,
    Trainer,
    apply_overrides,
    config_from_mapping,
    get_registry,
    resolve_parts,
)
from rl8_core.cli import build_parser, main
from rl8_core.plugins.hookspecs import Hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
#: The example packages whose files the docs show in ``# file: PACKAGE/PATH`` blocks.
EXAMPLE_PACKAGES = ("plugin_package", "a2c_package")


def _md(text: str) -> str:
    """Turn reStructuredText double backticks (docstrings) into markdown ones."""
    return text.replace("``", "`")


def _section(text: str, heading: str) -> str:
    """Return the text under the markdown heading ``heading`` up to the next heading of any level."""
    lines = text.splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start + 1 : end])


def _table_rows(text: str) -> list[list[str]]:
    """Return the cells of every markdown table row of ``text`` (header and separator rows included)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


# --- Hookspecs and Columns ------------------------------------------------------------------


def _hookspecs() -> list[tuple[str, str, str, str]]:
    """Return ``(name, signature, summary, added_in)`` for every hookspec."""
    out = []
    for name, fn in inspect.getmembers(Hookspecs, inspect.isfunction):
        if not name.startswith("rl8_"):
            continue
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.name != "self"]
        signature = f"{name}{sig.replace(parameters=params)}".replace("'", "")
        doc = inspect.getdoc(fn) or ""
        added = re.search(r"Added in ([\d.]+)\.", doc)
        assert added, f"the docstring of {name} does not say 'Added in X.'"
        out.append((name, signature, _md(doc.splitlines()[0]), added.group(1)))
    return out


def test_every_hookspec_is_in_the_reference_with_signature_summary_and_version(docs: dict[str, Any]) -> None:
    text = docs["reference.md"].text
    specs = _hookspecs()
    assert {name for name, *_ in specs} == set(HOOKS.values())
    for name, signature, summary, added in specs:
        section = _section(text, f"### `{name}`")
        assert f"`{signature}`" in section, f"reference.md: `{signature}` not under ### `{name}`"
        assert summary in section, f"reference.md: the summary of {name} ({summary!r}) is missing"
        assert f"Added in {added}." in section, f"reference.md: {name} does not say 'Added in {added}.'"
    kinds = {row[0]: row[1] for row in _table_rows(_section(text, "## Hookspecs"))}
    for kind, hook in HOOKS.items():
        assert kinds.get(f"`{hook}`") == f'`"{kind}"`', f"reference.md: the hook table lacks {hook} -> {kind!r}"


def _constant_meanings(class_name: str) -> dict[str, tuple[str, str]]:
    """Return ``{constant: (value, meaning)}`` from the ``#:`` comments of a class in ``rl8_core/columns.py``."""
    source = (ROOT / "rl8_core" / "columns.py").read_text().splitlines()
    tree = ast.parse("\n".join(source))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    owner = {"Columns": Columns, "Metrics": Metrics}[class_name]
    out = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            comment = source[node.lineno - 2].strip()
            assert comment.startswith("#:"), f"{class_name}.{node.target.id} has no #: comment"
            out[node.target.id] = (getattr(owner, node.target.id), _md(comment[2:].strip()))
    return out


@pytest.mark.parametrize("class_name", ["Columns", "Metrics"])
def test_every_key_constant_is_in_the_reference_with_value_and_meaning(docs: dict[str, Any], class_name: str) -> None:
    rows = {row[0]: row[1:] for row in _table_rows(_section(docs["reference.md"].text, f"## {class_name}"))}
    meanings = _constant_meanings(class_name)
    assert meanings, f"no {class_name} constants found"
    for name, (value, meaning) in meanings.items():
        row = rows.get(f"`{class_name}.{name}`")
        assert row is not None, f"reference.md: no row for {class_name}.{name}"
        assert row[0] == f'`"{value}"`', f"reference.md: {class_name}.{name} is {value!r}, the docs say {row[0]}"
        assert meaning in row[1], f"reference.md: {class_name}.{name} should say {meaning!r}, says {row[1]!r}"
    prefix = f"`{class_name}."
    documented = {cell[len(prefix) : -1] for cell in rows if cell.startswith(prefix)}
    assert documented <= meanings.keys(), f"reference.md documents unknown {class_name}: {documented - meanings.keys()}"


# --- Catalogs ------------------------------------------------------------------------------


def render_choice_table() -> str:
    """Render ``Catalog.rule_rows()`` as the markdown table ``docs/catalogs.md`` shows."""
    lines = ["| table | the spec is | component |", "| --- | --- | --- |"]
    lines += [f"| {row['table']} | {row['spec']} | `{row['component']}` |" for row in Catalog.rule_rows()]
    return "\n".join(lines)


def test_the_choice_table_in_catalogs_md_matches_rule_rows(docs: dict[str, Any]) -> None:
    table = render_choice_table()
    assert table in docs["catalogs.md"].text, f"catalogs.md must contain the rule table, exactly:\n{table}"


def _default_text(field: dataclasses.Field[Any]) -> str | None:
    """Render a field's default as the docs write it in a table, or ``None`` for nested sections."""
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return None
    if dataclasses.is_dataclass(value):
        return None
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return json_like(list(value))
    if isinstance(value, dict):
        return json_like(value)
    return str(value)


def json_like(value: Any) -> str:
    return repr(value).replace("'", '"')


def _check_options_table(
    text: str, config_class: type[Any], where: str, *, exclude: frozenset[str] = frozenset()
) -> None:
    rows = {row[0]: row for row in _table_rows(text) if row and row[0].startswith("`")}
    for field in dataclasses.fields(config_class):
        if field.name in exclude:
            continue
        row = rows.get(f"`{field.name}`")
        assert row is not None, f"{where}: no table row for {config_class.__name__}.{field.name}"
        expected = _default_text(field)
        cell = row[1] if len(row) > 2 else ""
        if expected is not None and cell.startswith("`") and cell.endswith("`"):
            assert cell == f"`{expected}`", (
                f"{where}: {config_class.__name__}.{field.name} defaults to {expected}, docs say {cell}"
            )


def test_training_md_documents_every_config_key_with_its_default(docs: dict[str, Any]) -> None:
    text = docs["training.md"].text
    from rl8_plugins.algorithms.ppo import PPOConfig

    _check_options_table(_section(text, "## `TrainConfig`"), TrainConfig, "training.md TrainConfig")
    _check_options_table(_section(text, "## Stop conditions"), StopConfig, "training.md stop")
    _check_options_table(_section(text, "## Evaluation"), EvalConfig, "training.md eval")
    _check_options_table(_section(text, "## Checkpoints and resuming"), CheckpointConfig, "training.md checkpoint")
    _check_options_table(_section(text, "## When a run goes wrong"), GuardsConfig, "training.md guards")
    _check_options_table(_section(text, "## MLflow tracking"), TrackingConfig, "training.md tracking")
    _check_options_table(_section(text, "## Video clips"), RecordConfig, "training.md record")
    _check_options_table(_section(text, "## The learner and PPO"), LearnerConfig, "training.md learner")
    _check_options_table(_section(text, "### PPO options"), PPOConfig, "training.md PPO")
    _check_options_table(_section(docs["scaling.md"].text, "## Configuration"), ScaleConfig, "scaling.md scale")
    _check_options_table(
        _section(docs["multi-agent.md"].text, "## Configuration"), MultiAgentConfig, "multi-agent.md multi_agent"
    )


def test_catalogs_md_documents_every_model_config_key(docs: dict[str, Any]) -> None:
    text = docs["catalogs.md"].text
    base = {f.name for f in dataclasses.fields(ModelConfig)}
    _check_options_table(
        _section(text, "## The actor-critic catalog"),
        ActorCriticConfig,
        "catalogs.md actor-critic",
        exclude=frozenset(base),
    )
    cells = " ".join(row[0] for row in _table_rows(_section(text, "## All `model_config` keys")))
    for name in sorted(base):
        assert f"`{name}`" in cells, f"catalogs.md: model_config key {name!r} is not in the table of all keys"


# --- The command line ----------------------------------------------------------------------


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _cli_mentions(docs: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """Return ``(where, subcommand, tokens)`` for every ``rl8 ...`` the docs mention."""
    found = []
    for page in docs.values():
        for block in page.blocks:
            if block.lang not in ("bash", "sh", "console", "shell"):
                continue
            for offset, line in enumerate(block.code.splitlines(), start=1):
                command = line.split(" #", 1)[0].strip()
                for part in command.split("&&"):
                    tokens = shlex.split(part.strip())
                    if len(tokens) >= 2 and tokens[0] == "rl8":
                        found.append((f"{page.name}:{block.line + offset}", tokens[1], tokens[2:]))
        for number, line in enumerate(page.text.splitlines(), start=1):
            spans = re.findall(r"`([^`]+)`", line)
            row_command = None
            if line.startswith("|") and spans and spans[0].startswith("rl8 "):
                row_command = spans[0].split()[1]
            for span in spans:
                tokens = span.split()
                if len(tokens) >= 2 and tokens[0] == "rl8" and re.fullmatch(r"[a-z]+", tokens[1]):
                    found.append((f"{page.name}:{number}", tokens[1], tokens[2:]))
                elif row_command and span.startswith("-"):
                    found.append((f"{page.name}:{number}", row_command, span.replace("/", " ").split()))
    return found


def test_every_cli_command_and_flag_in_the_docs_exists(
    docs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    subparsers = _subparsers()
    mentions = _cli_mentions(docs)
    assert {sub for _, sub, _ in mentions} >= {"train", "eval", "plugins"}, "the docs should show all three commands"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    train_help = capsys.readouterr().out
    for where, sub, tokens in mentions:
        assert sub in subparsers, f"{where}: `rl8 {sub}` is not a command ({', '.join(subparsers)})"
        known = subparsers[sub]._option_string_actions
        for token in tokens:
            if token.startswith("-"):
                flag = token.split("=", 1)[0]
                assert flag in known, f"{where}: `rl8 {sub}` has no option {flag} (it has {', '.join(sorted(known))})"
                if sub == "train":
                    assert flag in train_help, f"{where}: `rl8 train --help` does not show {flag}"


def test_every_set_override_in_the_docs_is_a_valid_config_key(docs: dict[str, Any]) -> None:
    overrides = []
    for where, _, tokens in _cli_mentions(docs):
        overrides += [(where, tokens[i + 1]) for i, token in enumerate(tokens[:-1]) if token == "--set"]
    assert overrides, "the docs should show --set"
    for where, item in overrides:
        if not re.match(r"^[a-z_][a-z0-9_.]*=", item):  # a placeholder such as KEY=VALUE
            continue
        config = TrainConfig.from_mapping(apply_overrides({}, [item]), path=f"{where} --set")
        resolve_parts(config, get_registry())


def test_every_yaml_block_is_a_valid_train_config(docs: dict[str, Any]) -> None:
    blocks = [(page.name, block) for page in docs.values() for block in page.blocks if block.lang == "yaml"]
    assert blocks, "the docs should show YAML configs"
    for name, block in blocks:
        data = yaml.safe_load(block.code)
        assert isinstance(data, dict), f"{name}:{block.line}: a YAML block should be a config mapping"
        config = TrainConfig.from_mapping(data, path=f"{name}:{block.line}")
        if config.catalog is None and config.module is None:
            # model_config against the default catalog's options (names of components are not resolved).
            config_from_mapping(ActorCriticConfig, config.model_config, path=f"{name}:{block.line}.model_config")
        from rl8_plugins.algorithms.ppo import PPOConfig

        config_from_mapping(PPOConfig, config.algorithm_config, path=f"{name}:{block.line}.algorithm_config")


# --- Metrics, environment variables --------------------------------------------------------


def test_every_metric_the_trainer_reports_is_in_the_reference(docs: dict[str, Any]) -> None:
    config = {"env": "cartpole", "num_envs": 2, "horizon": 8, "progress": "none", "tracking": {"enabled": False}}
    with Trainer({**config, "algorithm_config": {"num_epochs": 1}}) as trainer:
        names = set(trainer.step()) | set(trainer.eval(episodes=1))
    rows = _table_rows(_section(docs["reference.md"].text, "## Metrics"))
    # The Metrics constants' table gives the name in its second column, the algorithm's table in its first.
    documented = {(row[1] if row[0].startswith("`Metrics.") else row[0]).strip("`").strip('"') for row in rows}
    documented = {name for name in documented if "/" in name}
    assert names - documented == set(), f"reference.md lacks the metrics {sorted(names - documented)}"
    assert documented - names == set(), f"reference.md documents metrics no one reports: {sorted(documented - names)}"


def test_every_environment_variable_is_in_the_reference(docs: dict[str, Any]) -> None:
    used = {"MLFLOW_TRACKING_URI"}
    for package in ("specs", "rl8_core", "catalogs", "rl8_plugins"):
        for path in (ROOT / package).rglob("*.py"):
            used |= set(re.findall(r"\bRL8_[A-Z_]+\b", path.read_text()))
    rows = {row[0] for row in _table_rows(_section(docs["reference.md"].text, "## Environment variables"))}
    for name in sorted(used):
        assert f"`{name}`" in rows, f"reference.md: environment variable {name} is not documented"


# --- Decisions ------------------------------------------------------------------------------


def test_decisions_md_states_the_registry_kinds_and_the_builtin_entry_points(docs: dict[str, Any]) -> None:
    text = docs["decisions.md"].text
    heading = '## Registry kinds: `"encoder"`, `"distribution"`, `"algorithm"`, `"env"`: kept'
    kinds = {row[0]: row[1] for row in _table_rows(_section(text, heading))}
    for kind, hook in HOOKS.items():
        assert kinds.get(f'`"{kind}"`') == f"`{hook}`", f"decisions.md: kind {kind!r} -> {hook} is missing"

    rows = {
        row[0].strip("`"): row[1:]
        for row in _table_rows(_section(text, "## Entry-point names of the built-ins"))
        if row[0].startswith("`")
    }
    eps = {ep.name: ep for ep in metadata.entry_points(group="rl8") if ep.dist and ep.dist.name == "rl8-core"}
    assert set(rows) == set(eps), f"decisions.md lists {sorted(rows)}, rl8-core declares {sorted(eps)}"
    plugins = {p.name: p for p in get_registry().plugins()}
    for name, (module, contributes) in rows.items():
        assert module == f"`{eps[name].value}`", f"decisions.md: entry point {name} is {eps[name].value}"
        ((kind, components),) = plugins[name].contributions.items()
        listed = ", ".join(f"`{c}`" for c in components)
        assert contributes == f"{kind} {listed}", f"decisions.md: {name} contributes {kind} {components}"


def test_quickstart_equals_examples_cartpole_yaml() -> None:
    assert TrainConfig.from_file(ROOT / "examples" / "cartpole.yaml") == TrainConfig.quickstart()


# --- The example plugin package, links -----------------------------------------------------


def test_file_blocks_equal_the_example_packages(docs: dict[str, Any]) -> None:
    shown = {}
    for page in docs.values():
        for block in page.blocks:
            if block.file is not None:
                path = EXAMPLES / block.file
                assert block.file.split("/")[0] in EXAMPLE_PACKAGES, (
                    f"{page.name}:{block.line}: {block.file} names no package"
                )
                assert path.is_file(), f"{page.name}:{block.line}: {block.file} is not in examples/"
                assert block.body == path.read_text(), f"{page.name}:{block.line}: differs from {path}"
                shown[block.file] = page.name
    sources = {
        str(p.relative_to(EXAMPLES))
        for package in EXAMPLE_PACKAGES
        for p in (EXAMPLES / package).rglob("*")
        if p.is_file() and p.suffix in (".py", ".toml") and "__pycache__" not in p.parts and "build" not in p.parts
    }
    assert sources == set(shown), f"files of the example packages not shown in the docs: {sources - set(shown)}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_pages_resolve(docs: dict[str, Any]) -> None:
    prose = {name: re.sub(r"^```.*?^```", "", page.text, flags=re.S | re.M) for name, page in docs.items()}
    anchors = {
        name: {_slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"^#{1,6} ", line)}
        for name, text in prose.items()
    }
    for name, text in prose.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = (DOCS / file).resolve() if file else DOCS / name
            assert resolved.exists(), f"{name}: link to {target} does not resolve"
            if anchor:
                assert resolved.name in anchors, f"{name}: anchor link into a non-doc file: {target}"
                assert anchor in anchors[resolved.name], f"{name}: no heading for #{anchor} in {resolved.name}"


def test_index_links_every_page(docs: dict[str, Any]) -> None:
    index = docs["index.md"].text
    for name in docs:
        if name != "index.md":
            assert f"]({name})" in index, f"index.md does not link {name}"


def test_architecture_md_names_the_core_api(docs: dict[str, Any]) -> None:
    text = docs["architecture.md"].text
    for name in ("forward_exploration", "rl8_encoders", "Catalog(observation_spec, action_spec, model_config)"):
        assert name in text


def test_skipped_blocks_stay_rare(docs: dict[str, Any]) -> None:
    skipped = [f"{p.name}:{b.line}" for p in docs.values() for b in p.blocks if b.directive == "skip"]
    assert len(skipped) <= 3, f"too many <!-- skip --> blocks, run them instead: {skipped}"


def test_output_blocks_follow_a_python_block(docs: dict[str, Any]) -> None:
    for page in docs.values():
        previous = None
        for block in page.blocks:
            if block.directive == "output":
                where = f"{page.name}:{block.line}: an output block must follow a python block that runs"
                assert previous is not None, where
                assert previous.lang == "python", where
                assert previous.file is None, where
            previous = block
