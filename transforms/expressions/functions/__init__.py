"""The function catalogue, one module per family; importing this package fills the registry."""

from transforms.expressions.functions import (  # noqa: F401  (imported for their registrations)
    certificate,
    conversion,
    datetime,
    directory,
    evaluation,
    flow,
    math,
    multivalued,
    text,
)
from transforms.expressions.functions.registry import REGISTRY, FunctionSpec, Param

__all__ = ["REGISTRY", "FunctionSpec", "Param"]
