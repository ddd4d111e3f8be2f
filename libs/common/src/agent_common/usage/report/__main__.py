"""`python -m agent_common.usage.report --month YYYY-MM --out DIR`: the monthly CronJob's command."""

from __future__ import annotations

import argparse
import sys

from agent_common.usage.report import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m agent_common.usage.report", description=__doc__)
add_arguments(parser)
sys.exit(run(parser.parse_args()))
