"""The spec language of rl8: space specs and I/O specs.

Space specs (``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary``,
``Composite``) describe what an environment emits and accepts. I/O specs
(``TensorShape``, ``TypeSpec``, ``SpecDict``) describe what a forward method
accepts and returns; ``check`` raises ``SpecError`` listing every mismatch.

Examples:
    >>> import torch
    >>> from specs import Box, TensorShape, check
    >>> Box((4,)).as_io_spec()
    TensorShape('b, 4', dtype=torch.float32)
    >>> check({"obs": TensorShape("b, 4")}, {"obs": torch.zeros(8, 4)})
"""

from __future__ import annotations

from specs._checking import checking, is_checking
from specs._gym import from_gymnasium, from_numpy, to_gymnasium, to_numpy
from specs._io import FLOAT_DTYPES, IOSpec, SpecDict, TensorShape, TypeSpec, check, format_path, to_path
from specs._space import Box, Composite, Discrete, MultiBinary, MultiDiscrete, Spec, TensorSpec, spec_from_dict
from specs.errors import Mismatch, SpecError, UnsupportedSpaceError

__all__ = [
    "FLOAT_DTYPES",
    "Box",
    "Composite",
    "Discrete",
    "IOSpec",
    "Mismatch",
    "MultiBinary",
    "MultiDiscrete",
    "Spec",
    "SpecDict",
    "SpecError",
    "TensorShape",
    "TensorSpec",
    "TypeSpec",
    "UnsupportedSpaceError",
    "check",
    "checking",
    "format_path",
    "from_gymnasium",
    "from_numpy",
    "is_checking",
    "spec_from_dict",
    "to_gymnasium",
    "to_numpy",
    "to_path",
]
