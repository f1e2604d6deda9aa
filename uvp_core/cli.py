"""The command line: `python -m uvp_core <command> ...` — a stable contract other tools call.

Exit codes: 0 success, 1 invalid data or model (the report is printed), 2 usage errors.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from uvp_core.data import LoadResult, load_path, parse_map_args
from uvp_core.workspace import Workspace

log = logging.getLogger("uvp_core")
Command = Callable[[argparse.Namespace], int]


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    """--data, --map and --encoding, shared by every command that reads a dataset."""
    parser.add_argument("--data", required=True, type=Path, help="a dataset folder or file")
    parser.add_argument(
        "--map", action="append", default=[], metavar="ROLE=COLUMN",
        help="map a column to a role, e.g. item_id=movieId or items.title=name (repeatable)",
    )
    parser.add_argument("--encoding", default=None, help="text encoding of the files, when not UTF-8")


def _load(args: argparse.Namespace) -> LoadResult:
    """Load and validate --data with --map; print the report."""
    mapping = parse_map_args(args.map)
    result = load_path(args.data, mapping or None, encoding=args.encoding)
    print(result.report.format_text(), file=sys.stderr if not result.report.ok else sys.stdout)
    return result


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a dataset and print the report; non-zero exit on errors."""
    result = _load(args)
    if result.dataset is None:
        print(f"INVALID: {len(result.report.errors)} error(s); nothing stored.", file=sys.stderr)
        return 1
    events = result.dataset.events
    print(
        f"OK: layout {result.layout}; {len(events):,} events, {events['user_id'].nunique():,} users, "
        f"{events['item_id'].nunique():,} items; {len(result.report.warnings)} warning(s)."
    )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate and store a dataset in the workspace; print its id."""
    result = _load(args)
    if result.dataset is None:
        print(f"INVALID: {len(result.report.errors)} error(s); nothing stored.", file=sys.stderr)
        return 1
    dataset = result.dataset
    if args.name:
        dataset = replace(dataset, name=args.name)
    record = Workspace(args.workspace).save_dataset(dataset)
    print(record.id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="python -m uvp_core", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="validate a dataset and print the report")
    _add_data_args(validate)
    validate.set_defaults(func=cmd_validate)

    ingest = sub.add_parser("ingest", help="validate and store a dataset in the workspace; prints its id")
    _add_data_args(ingest)
    ingest.add_argument("--name", default=None, help="a display name (default: the folder or file name)")
    ingest.add_argument("--workspace", type=Path, default=None, help="workspace folder (default $UVP_WORKSPACE or ./workspace)")
    ingest.set_defaults(func=cmd_ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except ValueError as exc:  # bad --map syntax and similar usage errors
        print(f"error: {exc}", file=sys.stderr)
        return 2
