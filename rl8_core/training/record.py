"""``record_clip``: a video (MP4 or GIF) of a module playing episodes of an env."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensordict import TensorDictBase

from rl8_core.columns import Columns
from rl8_core.components.env import BatchedEnv, render_frame
from rl8_core.components.module import RLModule
from rl8_core.errors import ConfigError
from rl8_core.training.config import CheckSpecs
from rl8_core.training.evaluate import Actor

__all__ = ["VIDEO_FORMATS", "record_clip", "video_format"]

#: The clip formats, chosen by the suffix of the clip's path.
VIDEO_FORMATS = ("mp4", "gif")
_INSTALL = "pip install 'rl8-core[video]'"


def video_format(path: str | os.PathLike[str]) -> str:
    """Return the clip format the suffix of ``path`` names: ``"mp4"`` or ``"gif"``.

    Raises:
        ConfigError: For any other suffix, naming it and the two choices.

    Examples:
        >>> video_format("runs/clip.MP4")
        'mp4'
    """
    suffix = Path(path).suffix
    fmt = suffix.lower().removeprefix(".")
    if fmt not in VIDEO_FORMATS:
        raise ConfigError(
            f"cannot write a clip to {os.fspath(path)!r}: unknown suffix {suffix or '(none)'!r}; "
            f"end the file name in .mp4 or .gif"
        )
    return fmt


def _writer(path: Path, fmt: str, fps: int) -> Any:
    """Open an imageio writer of ``fmt`` at ``path`` (imported here: imageio is the optional ``video`` extra).

    Raises:
        ConfigError: If imageio (or, for MP4, imageio-ffmpeg) is not installed.
    """
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise ConfigError(f"writing a video clip needs imageio: {_INSTALL}") from None
    if fmt == "gif":
        # Pillow's GIF writer keeps durations in milliseconds; loop=0 repeats for ever.
        return imageio.get_writer(path, format="GIF", mode="I", duration=1000 / fps, loop=0)
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ConfigError(f"writing an MP4 clip needs imageio-ffmpeg: {_INSTALL}")
    # H.264 in yuv420p needs even sides, which _even_sides gives every frame; a macro block of 2
    # keeps imageio from resizing frames to its default multiple of 16 (and warning about it).
    return imageio.get_writer(
        path, format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=2, ffmpeg_log_level="error"
    )


def _even_sides(frame: np.ndarray) -> np.ndarray:
    """Return ``frame`` ``[h, w, 3]`` with its last row/column repeated where ``h``/``w`` is odd (for H.264)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def record_clip(
    module: RLModule | None,
    env: BatchedEnv,
    path: str | os.PathLike[str],
    *,
    episodes: int = 1,
    fps: int = 30,
    max_steps: int = 1000,
    deterministic: bool = True,
    random_actions: bool = False,
    seed: int | None = None,
    check_specs: CheckSpecs = "first",
) -> dict[str, Any]:
    """Play ``episodes`` episodes of env 0 of ``env`` with ``module`` and write them as a video.

    **Frame count**: one frame per step played, drawn before the action:
    the state the policy acts in. ``frames == steps``. An episode's first
    frame is its reset state; its terminal state is not shown, because envs
    reset themselves inside ``step``. Playing stops once ``episodes``
    episodes of env 0 ended or after ``max_steps`` steps in all, even
    mid-episode. (A GIF reader may count fewer frames: Pillow merges equal
    consecutive frames into one longer frame; the clip lasts as long.)

    The env is reset (with ``seed``) and must render: ``render(index)``
    returning ``uint8`` ``[height, width, 3]`` (``render_frame``). All envs of
    ``env`` are stepped, so give it one env. The module acts as in
    ``evaluate`` (``Actor``: deterministic or sampled, its state carried and
    reset at episode ends). MP4 frames with an odd side get their last row or
    column repeated (H.264 needs even sides). The file appears complete or not
    at all: it is written beside ``path`` and renamed at the end.

    Args:
        module: The policy; ignored (and may be ``None``) with ``random_actions``.
        env: The env to play; env 0 is filmed.
        path: Where the clip goes; its suffix (``.mp4`` or ``.gif``) picks the format.
        episodes: Episodes to play.
        fps: Frames per second of the clip.
        max_steps: Steps to play at most, over all episodes.
        deterministic: Act with ``forward_inference`` rather than ``forward_exploration``.
        random_actions: Act with uniform samples of the action spec (``Spec.rand``) instead of the module.
        seed: Seed of the env's reset and of the random actions.
        check_specs: Spec checks of the module's forward, as in ``evaluate``.

    Returns:
        ``path`` (str), ``format``, ``frames`` and ``steps`` (equal), ``episodes``
        (how many ended), ``returns`` and ``lengths`` (of those episodes, in order) and
        ``cut_short`` (``max_steps`` ended the clip before ``episodes`` did).

    Raises:
        ConfigError: For a suffix other than ``.mp4``/``.gif``, an env that cannot
            render, imageio not installed, or ``episodes``/``fps``/``max_steps`` below 1.
        SpecError: If a checked step of the module does not match its specs.

    Examples:
        >>> from rl8_core import make_env
        >>> env = make_env("pixels", num_envs=1, seed=0, env_config={"cell_pixels": 4})
        >>> record_clip(None, env, "clip.avi", random_actions=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rl8_core.errors.ConfigError: cannot write a clip to 'clip.avi': unknown suffix '.avi'; end ... .mp4 or .gif
    """
    fmt = video_format(path)
    for name, value in (("episodes", episodes), ("fps", fps), ("max_steps", max_steps)):
        if value < 1:
            raise ConfigError(f"record_clip: {name} must be >= 1, got {value}")
    if module is None and not random_actions:
        raise ValueError("record_clip needs a module unless random_actions=True")
    target = Path(path)
    n = env.num_envs
    obs = env.reset(seed=seed).get(Columns.OBS)
    frame = render_frame(env, 0)  # an env that cannot render fails here, before any file exists
    shape = frame.shape
    actor = (
        None
        if module is None or random_actions
        else Actor(module, n, deterministic=deterministic, check_specs=check_specs)
    )
    generator = torch.Generator(device=env.device)
    if seed is not None:
        generator.manual_seed(seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    writer = _writer(partial, fmt, fps)
    returns: list[float] = []
    lengths: list[int] = []
    ep_return, ep_length = 0.0, 0
    steps = 0
    try:
        with torch.no_grad():
            while True:
                if frame.shape != shape:
                    raise ConfigError(
                        f"env {type(env).__name__}: render(0) changed its frame size from {list(shape)} "
                        f"to {list(frame.shape)}; a clip needs frames of one size"
                    )
                writer.append_data(_even_sides(frame) if fmt == "mp4" else frame)
                actions: torch.Tensor | TensorDictBase = (
                    env.action_spec.rand((n,), generator=generator) if actor is None else actor.act(obs)
                )
                result = env.step(actions.to(env.device))
                steps += 1
                done = result.get(Columns.TERMINATEDS) | result.get(Columns.TRUNCATEDS)
                ep_return += float(result.get(Columns.REWARDS)[0])
                ep_length += 1
                if actor is not None:
                    actor.episodes_ended(done)
                if bool(done[0]):
                    returns.append(ep_return)
                    lengths.append(ep_length)
                    ep_return, ep_length = 0.0, 0
                if len(returns) >= episodes or steps >= max_steps:
                    break
                obs = result.get(Columns.OBS)
                frame = render_frame(env, 0)
        writer.close()
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    return {
        "path": str(target),
        "format": fmt,
        "frames": steps,
        "steps": steps,
        "episodes": len(returns),
        "returns": returns,
        "lengths": lengths,
        "cut_short": len(returns) < episodes,
    }
