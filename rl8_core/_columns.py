"""Batch keys shared by modules, runners, learners and algorithms."""

from __future__ import annotations

from typing import Final

__all__ = ["Columns"]


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
    #: Recurrent state fed into a forward (nested TensorDict, batch ``[b]``).
    STATE_IN: Final = "state_in"
    #: Recurrent state produced by a forward (same structure as ``STATE_IN``).
    STATE_OUT: Final = "state_out"
    #: Advantage estimates ``[b]`` (e.g. GAE), written by an algorithm's postprocessing.
    ADVANTAGES: Final = "advantages"
    #: Regression targets for the value function ``[b]``.
    VALUE_TARGETS: Final = "value_targets"
    #: Features produced by an encoder ``[b, h]``.
    EMBEDDINGS: Final = "embeddings"
