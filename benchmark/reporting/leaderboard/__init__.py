"""Leaderboards: versioned long-format CSVs (docs/design.md §4) under leaderboards/<suite>/<protocol>.csv,
their validator, and the generated Markdown summary + static HTML page under leaderboards/site/.

Modules, each importing only those before it: `schema` (columns, validation), `frames` (reading,
canonical form, merging), `publish` (publish, withdraw), `markup` (CSS, script, HTML and Markdown
tables, best-of-column marks), `summary` (the tables), `pages` (render), `command` (the CLI).
"""

from benchmark.reporting.leaderboard.command import add_parser, cmd_leaderboard
from benchmark.reporting.leaderboard.frames import (
    canonical,
    describe_row,
    merge,
    numeric,
    parse_time,
    read_long,
)
from benchmark.reporting.leaderboard.pages import (
    README_END,
    README_START,
    SCRIPT,
    STYLE,
    load_leaderboards,
    long_rows,
    render,
    summary_pivot,
    update_readme,
)
from benchmark.reporting.leaderboard.publish import (
    WITHDRAWN_FILE,
    drop_withdrawn,
    publish_csv,
    publish_frame,
    publish_store,
    read_withdrawals,
    store_long,
    withdraw,
    write_checked,
)
from benchmark.reporting.leaderboard.schema import (
    FLOAT_COLUMNS,
    INJECTION_START,
    INT_COLUMNS,
    KNOWN_METRICS,
    NONNEG_METRICS,
    UNIT_METRICS,
    Problem,
    check_suite_name,
    known_probes,
    known_protocols,
    validate_file,
    validate_text,
)

__all__ = [
    "FLOAT_COLUMNS",
    "INJECTION_START",
    "INT_COLUMNS",
    "KNOWN_METRICS",
    "NONNEG_METRICS",
    "UNIT_METRICS",
    "Problem",
    "check_suite_name",
    "known_probes",
    "known_protocols",
    "validate_file",
    "validate_text",
    "canonical",
    "describe_row",
    "merge",
    "numeric",
    "parse_time",
    "read_long",
    "WITHDRAWN_FILE",
    "drop_withdrawn",
    "publish_csv",
    "publish_frame",
    "publish_store",
    "read_withdrawals",
    "store_long",
    "withdraw",
    "write_checked",
    "README_END",
    "README_START",
    "SCRIPT",
    "STYLE",
    "load_leaderboards",
    "long_rows",
    "render",
    "summary_pivot",
    "update_readme",
    "add_parser",
    "cmd_leaderboard",
]
