"""Prompt regression tests: representative questions, each with the rules its answer must keep.

The cases live in `evals/prompts.yaml`; `agent prompt-eval` runs them against
the platform's real HTTP API and checks every rule deterministically (see
`docs/prompt-regression.md`).
"""

from agent_cli.prompt_eval.cases import Case, CaseFileError, load_cases, parse_cases
from agent_cli.prompt_eval.evidence import Context, Outcome, Verdict
from agent_cli.prompt_eval.report import CaseResult, Report, render_table
from agent_cli.prompt_eval.rules import CATALOGUE, Rule, parse_rule
from agent_cli.prompt_eval.runner import embedded_platform, platform_context, run_cases

__all__ = [
    "CATALOGUE",
    "Case",
    "CaseFileError",
    "CaseResult",
    "Context",
    "Outcome",
    "Report",
    "Rule",
    "Verdict",
    "embedded_platform",
    "load_cases",
    "parse_cases",
    "parse_rule",
    "platform_context",
    "render_table",
    "run_cases",
]
