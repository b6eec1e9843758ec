"""Batch keys (``Columns``) and metric keys (``Metrics``): the names every part of a run agrees on."""

from __future__ import annotations

from typing import Final

__all__ = ["Columns", "Metrics"]


class Columns:
    """Names of the entries of a batch ``TensorDict``; use these, never bare strings.

    Shapes use ``b`` for the batch dim (``[t, n]`` in rollout buffers: time and
    env), ``a`` for the number of action distribution inputs.

    Examples:
        >>> Columns.OBS, Columns.ACTION_DIST_INPUTS
        ('obs', 'action_dist_inputs')
    """

    #: Observations ``[b, *obs_shape]`` (a nested TensorDict for composite specs).
    OBS: Final = "obs"
    #: Observations after the step (``[b, *obs_shape]``); for a finished episode the final one.
    NEXT_OBS: Final = "next_obs"
    #: Actions ``[b, *action_shape]`` as the environment takes them.
    ACTIONS: Final = "actions"
    #: Parameters of the action distribution ``[b, a]`` (logits, means and log-stds, ...).
    ACTION_DIST_INPUTS: Final = "action_dist_inputs"
    #: Log-probability of ``actions`` under the distribution that sampled them, ``[b]``.
    ACTION_LOGP: Final = "action_logp"
    #: Value-function predictions ``[b]``.
    VF_PREDS: Final = "vf_preds"
    #: Rewards ``[b]`` received after taking ``actions``.
    REWARDS: Final = "rewards"
    #: Whether the episode ended by reaching a terminal state ``[b]`` (bool): no bootstrap.
    TERMINATEDS: Final = "terminateds"
    #: Whether the episode was cut short, e.g. by a time limit ``[b]`` (bool): bootstrap.
    TRUNCATEDS: Final = "truncateds"
    #: Recurrent state fed into a forward (nested TensorDict, batch ``[b]``); in ``forward_train``, the
    #: state each sequence starts from.
    STATE_IN: Final = "state_in"
    #: Recurrent state produced by a forward (same structure as ``STATE_IN``).
    STATE_OUT: Final = "state_out"
    #: Which steps of a padded sequence batch ``[b, t]`` are real (bool); losses average over these only.
    LOSS_MASK: Final = "loss_mask"
    #: Advantage estimates ``[b]`` (e.g. GAE), written by an algorithm's postprocessing.
    ADVANTAGES: Final = "advantages"
    #: Regression targets for the value function ``[b]``.
    VALUE_TARGETS: Final = "value_targets"
    #: Features produced by an encoder ``[b, h]``.
    EMBEDDINGS: Final = "embeddings"


class Metrics:
    """Names of the metrics a training run reports (MLflow keys, ``Trainer.step()`` results).

    Groups: ``episodes/*`` (finished training episodes), ``eval/*``
    (evaluation episodes), ``counters/*`` (totals so far), ``perf/*`` (speed)
    and ``learner/*`` (the optimiser). Algorithms add their own
    ``losses/*`` and ``stats/*``.

    Examples:
        >>> Metrics.RETURN_MEAN, Metrics.EVAL_RETURN_MEAN
        ('episodes/return_mean', 'eval/return_mean')
    """

    #: Mean return of the last ``stop.window`` finished training episodes.
    RETURN_MEAN: Final = "episodes/return_mean"
    #: Mean length of the same episodes.
    LENGTH_MEAN: Final = "episodes/length_mean"
    #: Training episodes that finished during the iteration.
    FINISHED: Final = "episodes/finished"
    #: Mean return of the evaluation episodes.
    EVAL_RETURN_MEAN: Final = "eval/return_mean"
    #: Standard deviation of their returns.
    EVAL_RETURN_STD: Final = "eval/return_std"
    #: Lowest evaluation return.
    EVAL_RETURN_MIN: Final = "eval/return_min"
    #: Highest evaluation return.
    EVAL_RETURN_MAX: Final = "eval/return_max"
    #: Mean length of the evaluation episodes.
    EVAL_LENGTH_MEAN: Final = "eval/length_mean"
    #: Number of evaluation episodes.
    EVAL_EPISODES: Final = "eval/episodes"
    #: Iterations run so far.
    ITERATIONS: Final = "counters/iterations"
    #: Env steps taken so far.
    ENV_STEPS: Final = "counters/env_steps"
    #: Training episodes finished so far.
    EPISODES: Final = "counters/episodes"
    #: Seconds spent in ``Trainer.step`` so far.
    WALL_S: Final = "counters/wall_s"
    #: Env steps per second of the whole iteration (collect and update).
    ENV_STEPS_PER_S: Final = "perf/env_steps_per_s"
    #: Seconds spent collecting the rollout.
    COLLECT_S: Final = "perf/collect_s"
    #: Seconds spent postprocessing and updating.
    UPDATE_S: Final = "perf/update_s"
    #: Learning rate used by the update.
    LR: Final = "learner/lr"
    #: Mean global gradient norm before clipping.
    GRAD_NORM: Final = "learner/grad_norm"
    #: Optimiser steps taken by the update.
    MINIBATCHES: Final = "learner/minibatches"
    #: Passes over the batch the update made.
    EPOCHS: Final = "learner/epochs"
    #: Optimiser steps the update skipped for a NaN or inf loss or gradient norm (``guards.updates``).
    SKIPPED_UPDATES: Final = "learner/skipped_updates"
