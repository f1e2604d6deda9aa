"""The command line: `python -m uvp_core <command> ...` — a stable contract other tools call.

Exit codes: 0 success, 1 invalid data, pairs or test file, or a refused model or encoder (the report is printed),
2 usage errors, 130 interrupted (Ctrl-C; `train` then resumes from its checkpoint when run again).
"""

from __future__ import annotations

import argparse
import codecs
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from uvp_core.data import LoadResult, load_path, parse_map_args
from uvp_core.data.validate import PairsFileError, read_pairs_csv, to_id
from uvp_core.workspace import Workspace

log = logging.getLogger("uvp_core")
COVERAGE_NOTE_BELOW = 0.05  # _note_coverage: a share of the data's items known to the model below this gets a note
Command = Callable[[argparse.Namespace], int]


def _model_folder(text: str) -> Path:
    """An argparse type for --model: a path, refusing an empty one (Path('') would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("no model folder given (the path is empty)")
    return Path(text)


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    """--data, --map and --encoding, shared by every command that reads a dataset."""
    parser.add_argument("--data", required=True, type=Path, help="a dataset folder or file")
    parser.add_argument(
        "--map", action="append", default=[], metavar="ROLE=COLUMN",
        help="map a column to a role, e.g. item_id=movieId or items.title=name (repeatable)",
    )
    parser.add_argument("--encoding", default=None, help="text encoding of the files, when not UTF-8")


def _check_encoding(encoding: str | None) -> None:
    """A usage error for an --encoding Python does not know (once, before any file is read)."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"--encoding {encoding!r} is not a text encoding Python knows (e.g. utf-8, cp1252, latin-1)") from None


def _load(args: argparse.Namespace, *, report_to_stdout: bool = False) -> LoadResult:
    """Load and validate --data with --map; print the report (to stdout when asked, else to stderr when it has issues)."""
    mapping = parse_map_args(args.map)
    _check_encoding(args.encoding)
    result = load_path(args.data, mapping or None, encoding=args.encoding)
    if result.report.issues or report_to_stdout:
        print(result.report.format_text(), file=sys.stdout if report_to_stdout else sys.stderr)
    return result


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a dataset and print the report; non-zero exit on errors."""
    result = _load(args, report_to_stdout=True)
    if result.dataset is None:
        print(f"INVALID: {len(result.report.errors)} error(s); nothing stored.", file=sys.stderr)
        return 1
    events = result.dataset.events
    print(
        f"OK: layout {result.layout}; {len(events):,} events, {events['user_id'].nunique():,} users and "
        f"{events['item_id'].nunique():,} items with events; {len(result.report.warnings)} warning(s)."
        + (f" Not used (this layout has no table for them): {', '.join(result.skipped)}." if result.skipped else "")
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
    if record.name != dataset.name:
        print(f"note: this data is already stored as {record.name!r} ({record.id}); its name stays.", file=sys.stderr)
    print(record.id)
    return 0


class ConsoleProgress:
    """Prints training progress to stderr at most once a second (and every validation result)."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, progress) -> None:  # a uvp_core.model.Progress
        now = time.monotonic()
        if progress.val_metric is None and now - self._last < 1.0:
            return
        self._last = now
        parts = [progress.phase]
        if progress.epoch:
            parts.append(f"epoch {progress.epoch}")
        if progress.total_steps:
            parts.append(f"step {progress.step}/{progress.total_steps}")
        if progress.loss is not None:
            parts.append(f"loss {progress.loss:.4f}")
        if progress.val_metric is not None:
            parts.append(f"val {progress.val_metric:.4f}")
        if progress.eta_seconds is not None:
            parts.append(f"eta {progress.eta_seconds:.0f}s")
        if progress.message:
            parts.append(progress.message)
        print(" · ".join(parts), file=sys.stderr, flush=True)


def checkpoint_folder(args: argparse.Namespace) -> Path:
    """Where `train` keeps its end-of-epoch checkpoint: --checkpoint, else OUT.checkpoint beside the model folder."""
    return args.checkpoint if args.checkpoint is not None else Path(f"{Path(args.out).expanduser().resolve()}.checkpoint")


def cmd_train(args: argparse.Namespace) -> int:
    """Train a value model on all events in --data and save it to --out (resuming from a matching checkpoint)."""
    from uvp_core.model import ModelLoadError, TrainConfig, train
    from uvp_core.model.errors import TrainingDataError
    from uvp_core.model.persistence import check_save_target, has_checkpoint, remove_checkpoint

    check_save_target(args.out)  # before minutes of training, not after
    _folder_can_be_made(Path(args.out).expanduser().absolute().parent, "--out", args.out)  # the model is staged beside it
    if args.checkpoint is not None:
        _folder_can_be_made(Path(args.checkpoint), "--checkpoint")
        out, checkpoint = (Path(p).expanduser().resolve() for p in (args.out, args.checkpoint))
        if out.is_relative_to(checkpoint) or checkpoint.is_relative_to(out):  # the save would then refuse a non-empty folder,
            raise ValueError(f"--checkpoint {args.checkpoint} and --out {args.out} must be separate folders (neither inside "
                             "the other): the model is saved to --out once training ends")  # after the whole run  # fmt: skip
    result = _load(args)
    if result.dataset is None:
        return 1
    epochs = "finetune_epochs" if args.mode == "finetune" else "epochs"  # --epochs means the chosen mode's epochs
    overrides = {k: v for k, v in {epochs: args.epochs, "seed": args.seed}.items() if v is not None}
    config = TrainConfig(mode=args.mode, target=args.target, **overrides)
    checkpoint = checkpoint_folder(args)
    if has_checkpoint(checkpoint):
        print(f"note: {checkpoint} holds a checkpoint of an earlier run; training resumes from it if the data and "
              "settings are the same (else it starts afresh)", file=sys.stderr)  # fmt: skip
    try:
        model = train(result.dataset, config, encoder_dir=args.encoder, progress=ConsoleProgress(), checkpoint_dir=checkpoint)
    except ModelLoadError as exc:  # the --encoder folder was refused: like a refused model
        raise ModelRefused(str(exc)) from exc
    except TrainingDataError as exc:  # no target, too few examples: invalid data, named
        print(f"error: {args.data}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: run the same command again to resume from the last finished epoch (checkpoint: {checkpoint})",
              file=sys.stderr)  # fmt: skip
        return 130
    if (Path(args.out) / "uvp_model.json").is_file():
        print(f"note: replacing the model saved in {args.out}", file=sys.stderr)
    path = model.save(args.out)
    remove_checkpoint(checkpoint)  # the model is saved: nothing left to resume
    print(json.dumps({"model": str(path), "target": model.target, "task": model.task, "metrics": model.metrics_}, default=str))
    return 0


def read_pairs(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """A pairs CSV (user_id,item_id[,timestamp]) with ids as text; PairsFileError names the problem."""
    _check_encoding(encoding)  # a usage error, not a traceback from the reader
    return read_pairs_csv(path, str(path), "user_id,item_id[,timestamp]", encoding)[1]


class ModelRefused(Exception):
    """A model folder failed its checks (exit code 1, like invalid data)."""


def _load_model(path: Path):
    """Load a model folder with all checks; ModelRefused carries the reason."""
    from uvp_core.model import ModelLoadError, load_model

    try:
        return load_model(path)
    except ModelLoadError as exc:
        raise ModelRefused(str(exc)) from exc


def cmd_predict(args: argparse.Namespace) -> int:
    """Score user/item pairs; write user_id,item_id,prediction in input order."""
    from uvp_core.atomic import atomic_write_text

    _writable(args.out, "--out", args)
    pairs = read_pairs(args.pairs, args.encoding)  # the pairs file's problems first: it is quick to read
    if pairs.empty:  # a header alone is a valid request, but likely not the one meant
        print(f"note: {args.pairs} has a header and no pairs; {args.out} gets the header alone.", file=sys.stderr)
    model = _load_model(args.model)  # a refused model folder is named in seconds, not after the data has loaded
    result = _load(args)
    if result.dataset is None:
        return 1
    _note_coverage(model, result.dataset)
    _note_unknown(result.dataset, list(zip(pairs["user_id"], pairs["item_id"], strict=True)), "scored")
    out = pairs[["user_id", "item_id"]].assign(prediction=model.predict(result.dataset, pairs))
    atomic_write_text(args.out, out.to_csv(index=False))
    print(f"Wrote {len(out):,} predictions to {args.out}")
    return 0


def _writable(path: Path, option: str, args: argparse.Namespace) -> None:
    """Refuse an output file path that is a folder, whose parent cannot be a writable folder, or that would overwrite
    one of the command's inputs (an input file, a file of the --data folder, anything in a --model folder), before any
    work is done."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"{option} {path} is a folder; give a file name")
    _folder_can_be_made(Path(path).expanduser().absolute().parent, option, path)
    target = Path(path).expanduser().resolve()
    for name in ("data", "pairs", "test", "model"):
        value = getattr(args, name, None)
        for given in value if isinstance(value, list) else [value]:
            if given is not None and _changes_input(target, name, source := Path(given).expanduser().resolve()):
                what = f"overwrite {'a file of ' if target != source else ''}--{name}" if target.exists() else f"write into --{name}"
                raise ValueError(f"{option} {path} would {what} {given}, which this command reads; write it elsewhere")


def _changes_input(target: Path, name: str, source: Path) -> bool:
    """Whether writing `target` changes the input --name `source`: the file itself, an existing file of a --data folder,
    or anything in a --model folder (a stray file there, or a replaced one, gets the model refused)."""
    if target == source:
        return True
    if name == "model":
        return target.is_relative_to(source)
    return name == "data" and source.is_dir() and target.is_relative_to(source) and target.exists()


def _folder_can_be_made(folder: Path, option: str, given: Path | None = None) -> None:
    """Refuse (usage error) a folder that is a file or lies under one, or whose nearest existing folder is not writable."""
    given = folder if given is None else given
    folder = Path(folder).expanduser().absolute()
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{option} {given}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {given}: the folder {existing} is not writable")


def _note_coverage(model, dataset) -> None:
    """A note on stderr when few of the items with events in the data are known to the model (trained on other data?)."""
    items = dataset.events["item_id"].astype(str).unique()
    known = float(pd.Index(model.space_.item_ids).isin(items).sum()) / max(len(items), 1)
    if len(items) and known < COVERAGE_NOTE_BELOW:
        print(f"note: the model knows {known:.0%} of the {len(items):,} items with events in --data: was it trained on other "
              "data? Unknown items are scored from their text and attributes alone.", file=sys.stderr)  # fmt: skip


def _id_option(value: str | None, option: str) -> str | None:
    """An ID given on the command line, read as IDs in files are (validate.to_id: spaces trimmed, 17850.0 -> 17850)."""
    if value is None:
        return None
    cleaned = to_id(pd.Series([value], dtype=object)).iloc[0]
    if pd.isna(cleaned):
        raise ValueError(f"{option} is empty")
    return str(cleaned)


def _at_least_one(value: int, option: str) -> None:
    """A usage error unless a count option is at least 1."""
    if value < 1:
        raise ValueError(f"{option} must be at least 1, got {value}")


def cmd_recommend(args: argparse.Namespace) -> int:
    """Print the top-K items for one user as CSV."""
    _at_least_one(args.k, "--k")
    args.user = _id_option(args.user, "--user")
    model = _load_model(args.model)  # a refused model folder is named in seconds, not after the data has loaded
    result = _load(args)
    if result.dataset is None:
        return 1
    _note_coverage(model, result.dataset)
    if not (result.dataset.events["user_id"] == args.user).any():
        print(f"note: user {args.user!r} has no events in --data: the list comes from their profile (if any) and the items alone",
              file=sys.stderr)  # fmt: skip
    top = model.recommend(result.dataset, args.user, k=args.k)
    if top.empty:
        print(f"note: user {args.user!r} has events on every item of --data: nothing is left to recommend", file=sys.stderr)
    top.to_csv(sys.stdout, index=False)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a held-out set and write the evaluation report (JSON, optionally HTML)."""
    from uvp_core.atomic import atomic_write_text
    from uvp_core.diagnostics import evaluation_set, metrics, ranking, report, scoring
    from uvp_core.diagnostics.html_report import render_html

    for value, option in ((args.k, "--k"), (args.negatives, "--negatives"), (args.ranking_users, "--ranking-users")):
        _at_least_one(value, option)
    if args.test is not None and args.holdout is not None:
        raise ValueError("give --test or --holdout, not both")
    if args.holdout is not None and not 0 < args.holdout < 1:
        raise ValueError(f"--holdout must be a share between 0 and 1 (e.g. 0.1 for the latest 10%), got {args.holdout}")
    _writable(args.out, "--out", args)
    if args.html is not None:
        _writable(args.html, "--html", args)
        if Path(args.html).expanduser().resolve() == Path(args.out).expanduser().resolve():
            raise ValueError("--html and --out name the same file; give each its own")
    model = _load_model(args.model)  # a refused model folder is named in seconds, not after the data has loaded
    result = _load(args)
    if result.dataset is None:
        return 1
    _note_coverage(model, result.dataset)
    if args.test is not None:
        evalset = evaluation_set.annotate_test_set(evaluation_set.read_test_set(args.test, result.dataset, model.target, encoding=args.encoding), model, result.dataset)
    elif args.holdout is not None:
        evalset = evaluation_set.model_fraction_holdout(model, result.dataset, args.holdout)
    else:
        evalset = evaluation_set.model_holdout(model, result.dataset)
    print(f"evaluation set: {evalset.note}", file=sys.stderr)
    config = report.EvalConfig(
        k=args.k,
        candidates=ranking.CandidateConfig(mode=args.candidates, negatives=args.negatives, max_users=args.ranking_users, seed=args.seed),
        boot=metrics.Bootstrap(resamples=args.bootstrap, seed=args.seed),
    )
    evaluation = scoring.run_evaluation(model, result.dataset, evalset, config, name=args.name or Path(args.model).name)
    atomic_write_text(args.out, json.dumps(evaluation.report.to_dict(), indent=2, ensure_ascii=False))
    if args.html is not None:
        atomic_write_text(args.html, render_html(evaluation.report))
    overall = evaluation.report.overall.iloc[0]
    shown = {m: float(overall[m]) for m in metrics.metric_names(model.task)}
    print(json.dumps({"report": str(args.out), "pairs": len(evaluation.frame), "overall": shown}))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Score two models on the same pairs; write overall and per-segment differences (A − B) with intervals (JSON)."""
    from uvp_core.atomic import atomic_write_text
    from uvp_core.diagnostics import compare, evaluation_set, metrics, report, scoring, segments

    if len(args.model) != 2:
        print("error: give --model exactly twice (model A, then model B)", file=sys.stderr)
        return 2
    _writable(args.out, "--out", args)
    model_a, model_b = (_load_model(path) for path in args.model)  # refused folders first: loading data can take a minute
    result = _load(args)
    if result.dataset is None:
        return 1
    dataset = result.dataset
    _check_segments(args.segment, dataset)  # before minutes of scoring
    for model in (model_a, model_b):
        _note_coverage(model, dataset)
    if model_a.target != model_b.target:
        raise ValueError(f"The two models predict different targets ({model_a.target!r} and {model_b.target!r}).")
    if args.test is not None:
        evalset = evaluation_set.annotate_test_set(evaluation_set.read_test_set(args.test, dataset, model_a.target, encoding=args.encoding), model_a, dataset)
    else:
        evalset = evaluation_set.holdout_for_models(model_a, model_b, dataset)
    print(f"evaluation set: {evalset.note}", file=sys.stderr)
    boot = metrics.Bootstrap(resamples=args.bootstrap, seed=args.seed)
    paired = scoring.paired_evaluation(model_a, model_b, dataset, evalset)
    specs = report.default_specs(paired, args.min_rows)
    if args.segment:
        known = [spec.column for spec in specs]
        unknown = [c for c in args.segment if c not in known]
        if unknown:
            raise ValueError(f"Unknown segment column(s) {', '.join(unknown)}; known: {', '.join(known)}")
        specs = [spec for spec in specs if spec.column in args.segment]
    table = compare.compare_models(paired, model_a.task, specs, boot)
    models = {
        "a": {"path": str(args.model[0]), "target": model_a.target, "task": model_a.task},
        "b": {"path": str(args.model[1]), "target": model_b.target, "task": model_b.task},
    }
    record = compare.comparison_record(table, evalset, models, boot, segments.overlap_notes(paired, specs))
    atomic_write_text(args.out, json.dumps(record, indent=2, ensure_ascii=False))
    overall = table.loc[table["column"] == "overall"].set_index("metric")
    shown = {m: {"a": float(overall.at[m, "a"]), "b": float(overall.at[m, "b"]), "difference": float(overall.at[m, "difference"])}
             for m in metrics.metric_names(model_a.task)}  # fmt: skip
    print(json.dumps({"comparison": str(args.out), "pairs": len(paired), "overall": shown}))
    return 0


def _check_segments(columns: Sequence[str], dataset) -> None:
    """A usage error for a --segment that can be no segment of this data (a derived one or a users/items column)."""
    from uvp_core.diagnostics.segments import DERIVED_SEGMENTS

    possible = list(DERIVED_SEGMENTS)
    for prefix, table in (("user.", dataset.users), ("item.", dataset.items)):
        possible += [f"{prefix}{c}" for c in (table.columns if table is not None else []) if c not in ("user_id", "item_id")]
    unknown = [c for c in columns if c not in possible]
    if unknown:
        raise ValueError(f"Unknown segment column(s) {', '.join(unknown)}; this data has: {', '.join(possible)}")


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain one (user, item) prediction, or every pair of --pairs in one process: write prediction, base_value
    and contributions (JSON; with --pairs, {"explanations": [...]} in input order)."""
    from uvp_core.atomic import atomic_write_text
    from uvp_core.explain import ExplainConfig, background_for, explain_pair, pair_record

    _at_least_one(args.permutations, "--permutations")
    args.user, args.item = _id_option(args.user, "--user"), _id_option(args.item, "--item")
    if (args.pairs is None) == (args.user is None or args.item is None):
        raise ValueError("give --user and --item, or --pairs PAIRS.csv (user_id,item_id[,timestamp]) to explain many pairs")
    _writable(args.out, "--out", args)
    when = None if args.time is None else _prediction_time(args.time)
    if args.pairs is not None:
        pairs = read_pairs(args.pairs, args.encoding)
        times = pairs["timestamp"].tolist() if "timestamp" in pairs else [when] * len(pairs)
        wanted = list(zip(pairs["user_id"], pairs["item_id"], times, strict=True))
    else:
        wanted = [(args.user, args.item, when)]
    model = _load_model(args.model)  # a refused model folder is named in seconds, not after the data has loaded
    result = _load(args)
    if result.dataset is None:
        return 1
    _note_coverage(model, result.dataset)
    _note_unknown(result.dataset, wanted)
    config = ExplainConfig(permutations=args.permutations, seed=args.seed, history=args.history)
    background = background_for(model, result.dataset, attributes=args.background, seed=args.seed, item_fields=args.item_fields)
    records = []
    for user_id, item_id, time_ in wanted:  # one process: the model, shap's compiled code and the encodings are reused
        exp = explain_pair(model, result.dataset, user_id, item_id, None if pd.isna(time_) else time_, background=background, config=config)
        records.append(pair_record(exp, user_id, item_id, model.target, background=args.background, item_fields=args.item_fields,
                                   history=args.history))  # fmt: skip
    document = {"explanations": records} if args.pairs is not None else records[0]
    atomic_write_text(args.out, json.dumps(document, indent=2, ensure_ascii=False))
    summary = {"explanation": str(args.out), "pairs": len(records)}
    if args.pairs is None:
        summary |= {"prediction": records[0]["prediction"], "features": len(records[0]["contributions"])}
    print(json.dumps(summary))
    return 0


def _prediction_time(text: str) -> pd.Timestamp:
    """--time read by the data contract's own timestamp rule (validate.to_timestamps: ISO 8601, Unix time or a slash
    date with a part above 12, 1990-01-01 to a day from now), as a UTC timestamp; ValueError otherwise."""
    from uvp_core.data.validate import to_timestamps

    times = to_timestamps(pd.Series([text]))
    if times.missing[0] or times.unparseable[0]:
        raise ValueError(f"--time {text!r} is not an ISO 8601 time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)")
    if times.ambiguous is not None and times.ambiguous[0]:
        raise ValueError(f"--time {text!r} could be month/day or day/month (no part is above 12 to tell); write it as "
                         "ISO 8601 (e.g. 2025-01-02)")  # fmt: skip
    if times.out_of_range[0]:
        raise ValueError(f"--time {text!r} is outside 1990-01-01 to a day from now, the range the data's timestamps must keep to")
    return pd.Timestamp(times.values.iloc[0])


def _note_unknown(dataset, wanted: Sequence[tuple], verb: str = "explained") -> None:
    """Notes on stderr for users with no events or profile and items in no table of the data (a typo scores a stranger);
    wanted: (user_id, item_id, ...) tuples."""
    users = set(dataset.events["user_id"].astype(str)) | (set(dataset.users["user_id"].astype(str)) if dataset.users is not None else set())
    items = set(dataset.events["item_id"].astype(str)) | (set(dataset.items["item_id"].astype(str)) if dataset.items is not None else set())
    for kind, ids, meaning in (
        ("user", [w[0] for w in wanted if str(w[0]) not in users], f"has no events or profile in --data: {verb} as a new user with no history"),
        ("item", [w[1] for w in wanted if str(w[1]) not in items], f"is in no table of --data: {verb} as an unknown item with no text"),
    ):
        ids = list(dict.fromkeys(ids))
        if len(ids) == 1:
            print(f"note: {kind} {ids[0]!r} {meaning}", file=sys.stderr)
        elif ids:
            shown = ", ".join(repr(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
            print(f"note: {len(ids):,} {kind}s ({shown}) each {meaning.replace('has no', 'have no').replace('is in', 'are in')}", file=sys.stderr)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the background training worker for a workspace until its queue stays empty."""
    from uvp_core import jobs

    done = jobs.run_worker(Workspace(args.workspace), idle_exit_s=args.idle_exit)
    log.info("worker finished %d run(s)", done)
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

    train = sub.add_parser("train", help="train a value model on all events in --data; save it to --out")
    _add_data_args(train)
    train.add_argument("--target", default="auto", help="rating, label, or an event type such as purchase (default: auto)")
    train.add_argument("--out", required=True, type=Path, help="the model folder to write")
    train.add_argument("--mode", choices=("frozen", "finetune"), default="frozen",
                       help="frozen: encode texts once and train the head (default; minutes on a CPU); finetune: train the encoder too (GPU)")
    train.add_argument("--encoder", type=Path, default=None, help="a local Hugging Face BERT-family folder (default: all-MiniLM-L6-v2)")
    train.add_argument("--epochs", type=int, default=None,
                       help="most epochs to run (default: 30 frozen, early stopping usually ends sooner; 3 finetune)")
    train.add_argument("--seed", type=int, default=None, help="random seed (default: 0); the same seed and data give the same model")
    train.add_argument("--checkpoint", type=Path, default=None,
                       help="folder for the end-of-epoch checkpoint (default: OUT.checkpoint); after a crash or Ctrl-C, "
                            "the same command resumes from it; removed once the model is saved")  # fmt: skip
    train.set_defaults(func=cmd_train)

    predict = sub.add_parser("predict", help="score user_id,item_id pairs; the users' known history is --data")
    _add_data_args(predict)
    predict.add_argument("--model", required=True, type=_model_folder, help="a saved model folder")
    predict.add_argument("--pairs", required=True, type=Path, help="CSV (or JSON Lines, Parquet; gzip allowed) with user_id,item_id[,timestamp]")
    predict.add_argument("--out", required=True, type=Path, help="CSV to write: user_id,item_id,prediction")
    predict.set_defaults(func=cmd_predict)

    recommend = sub.add_parser("recommend", help="top-K items for a user")
    _add_data_args(recommend)
    recommend.add_argument("--model", required=True, type=_model_folder, help="a saved model folder")
    recommend.add_argument("--user", required=True, help="the user ID (their history is their events in --data)")
    recommend.add_argument("--k", type=int, default=10, help="how many items to list (default: 10)")
    recommend.set_defaults(func=cmd_recommend)

    evaluate = sub.add_parser("evaluate", help="score a held-out set and write the evaluation report (JSON, optional HTML)")
    _add_data_args(evaluate)
    evaluate.add_argument("--model", required=True, type=_model_folder, help="a saved model folder")
    evaluate.add_argument("--test", type=Path, default=None,
                          help="CSV user_id,item_id[,timestamp] + the label (rating, label or event_type); default: a time holdout of --data")
    evaluate.add_argument("--out", required=True, type=Path, help="the JSON report to write")
    evaluate.add_argument("--html", type=Path, default=None, help="also write a self-contained HTML report")
    evaluate.add_argument("--holdout", type=float, default=None,
                          help="without --test: hold out this latest share of label events (default: events the model did not "
                               "train on — its own validation period when --data is its training data, else the latest 10%%)")
    evaluate.add_argument("--k", type=int, default=10, help="list length for top-K metrics")
    evaluate.add_argument("--candidates", choices=("auto", "full", "sampled"), default="auto",
                          help="top-K candidates: every item (full), the user's test items + --negatives sampled ones "
                               "(sampled), or full when users x items stay under 250,000 pairs, else sampled (auto, default)")  # fmt: skip
    evaluate.add_argument("--negatives", type=int, default=100, help="sampled candidates per user")
    evaluate.add_argument("--ranking-users", type=int, default=200, help="users in the top-K evaluation (a seeded sample)")
    evaluate.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the intervals")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--name", default=None, help="the model's name in the report (default: the folder name)")
    evaluate.set_defaults(func=cmd_evaluate)

    comp = sub.add_parser("compare", help="two models on the same pairs: overall and per-segment differences with intervals (JSON)")
    _add_data_args(comp)
    comp.add_argument("--model", required=True, type=_model_folder, action="append", help="a saved model folder; give it twice (A, then B)")
    comp.add_argument("--test", type=Path, default=None,
                      help="CSV user_id,item_id[,timestamp] + the label; default: events neither model trained on (see evaluate)")
    comp.add_argument("--out", required=True, type=Path, help="the JSON file to write")
    comp.add_argument("--segment", action="append", default=[], metavar="COLUMN",
                      help="compare per segment of this column only, e.g. user.region or history_bucket (default: every column)")
    comp.add_argument("--min-rows", type=int, default=30, help="categorical levels with fewer rows are folded into 'other'")
    comp.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the paired intervals")
    comp.add_argument("--seed", type=int, default=0)
    comp.set_defaults(func=cmd_compare)

    worker = sub.add_parser("worker", help="run queued training runs of a workspace (started by the app)")
    worker.add_argument("--workspace", type=Path, default=None, help="workspace folder (default $UVP_WORKSPACE or ./workspace)")
    worker.add_argument("--idle-exit", type=float, default=20.0, help="seconds of empty queue before exiting")
    worker.set_defaults(func=cmd_worker)
    explain = sub.add_parser("explain", help="explain a (user, item) prediction, or every pair of --pairs, with SHAP values; write JSON")
    _add_data_args(explain)
    explain.add_argument("--model", required=True, type=_model_folder, help="a saved model folder")
    explain.add_argument("--user", default=None, help="the user (with --item); or use --pairs")
    explain.add_argument("--item", default=None, help="the candidate item (with --user)")
    explain.add_argument("--pairs", type=Path, default=None,
                         help="CSV user_id,item_id[,timestamp]: explain every pair in one process (much faster than one call each)")
    explain.add_argument("--time", default=None, help="prediction time (ISO 8601); default: after the latest event")
    explain.add_argument("--out", required=True, type=Path, help="the JSON file to write")
    explain.add_argument("--permutations", type=int, default=12, help="permutation pairs above 12 features")
    explain.add_argument("--background", choices=("mode", "population", "absent"), default="mode",
                         help="a masked user attribute takes: its most common value (default), each of a sample of "
                              "8 users' values in turn (population), or is left out (absent)")  # fmt: skip
    explain.add_argument("--item-fields", choices=("mode", "absent"), default="mode",  # explain.features.ITEM_BACKGROUNDS
                         help="a masked item field takes its most common value or median (default), or a categorical one is left out (absent)")
    explain.add_argument("--seed", type=int, default=0, help="permutation order and population sample seed")
    explain.add_argument("--history", choices=("item", "event"), default="item",  # explain.features.HISTORY_UNITS (not imported: shap is slow to load)
                         help="a history feature: one item with all its events read (default), or one event")
    explain.set_defaults(func=cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ModelRefused, PairsFileError) as exc:  # invalid model or pairs/test file: like invalid data
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # bad options, --map syntax, paths that are not what they must be
        return 2
