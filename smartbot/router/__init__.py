"""The rule engine: ordered rules from the database pick an action for each message."""
from .engine import Route, Router, RuleView, parse_command

__all__ = ["Route", "Router", "RuleView", "parse_command"]
