"""Sync rules: the model and the YAML loader."""

from transforms.rules.loader import (
    RuleFileError,
    RuleIssue,
    check_rule_set,
    default_expression_checker,
    load_rule_text,
    load_rule_texts,
)
from transforms.rules.model import (
    AttributeFlow,
    ConnectorSelector,
    Direction,
    FlowType,
    JoinCondition,
    JoinGroup,
    LinkType,
    MergeType,
    Position,
    ScopeCondition,
    ScopeGroup,
    ScopeOperator,
    SyncRule,
    SyncRuleError,
)

__all__ = [
    "AttributeFlow",
    "ConnectorSelector",
    "Direction",
    "FlowType",
    "JoinCondition",
    "JoinGroup",
    "LinkType",
    "MergeType",
    "Position",
    "RuleFileError",
    "RuleIssue",
    "ScopeCondition",
    "ScopeGroup",
    "ScopeOperator",
    "SyncRule",
    "SyncRuleError",
    "check_rule_set",
    "default_expression_checker",
    "load_rule_text",
    "load_rule_texts",
]
