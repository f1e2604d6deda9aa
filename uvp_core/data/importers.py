"""Importers: recognise the layout of a folder (or a set of uploaded files) and shape its tables.

Layouts, tried in this order:
- movielens-100k: `u.data` (tab-separated user, item, rating, timestamp; no header), optional
  `u.item` (pipe-separated, latin-1; 19 genre flags become `category`) and `u.user`.
- folder / upload: `events.*` plus optional `items.*` and `users.*` (any supported format); with
  several data files, a file whose name is none of these is recognised by its columns (see
  `table_by_columns`). A file that fits no table, or a second file for a table, is refused in an
  upload (the analyst chose every file) and reported as not read in a folder.
- movielens: `ratings.*` plus optional `movies.*` (title, genres -> category) and `tags.*` (each
  movie's distinct tags, joined by '|', become the item column `tags`).
- one data file alone, by content: Amazon review JSON Lines (reviewerID, asin, ...) ->
  amazon-reviews; a transaction log (customer, product, date, quantity and unit price, no label) ->
  transactions; anything else -> the events table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from uvp_core.data.contract import LABEL_ROLES, LIST_SEPARATOR, REQUIRED_ROLES, TABLES, Severity, ValidationIssue
from uvp_core.data.mapping import (
    TableColumns,
    detect_roles,
    detect_transaction_roles,
    normalize_name,
    resolve_table,
    split_explicit,
    transaction_synonyms,
)
from uvp_core.data.readers import DATA_EXTENSIONS, RawTable, ReadOutcome, Source, read_table
from uvp_core.data.validate import Bundle, Numbers, TablePlan, to_id, to_numbers

log = logging.getLogger(__name__)

TABLE_STEMS: dict[str, tuple[str, ...]] = {
    "events": ("events", "event"),
    "items": ("items", "item"),
    "users": ("users", "user"),
}
_TABLE_NAMED = frozenset(stem for stems in TABLE_STEMS.values() for stem in stems)
_FITS = {
    "events": "user ID, item ID and timestamp columns",
    "items": "an item ID column and no user ID",
    "users": "a user ID column and no item ID",
}
ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML100K_ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "release_date", "video_release_date", "imdb_url")
ML100K_USER_COLUMNS: tuple[str, ...] = ("user_id", "age", "gender", "occupation", "zip_code")
ML100K_EVENT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "rating", "timestamp")
_NOT_DATA_PREFIXES = ("readme", "license", "licence", "source", "citation", "changelog", ".")
_MOVIELENS_KNOWN = frozenset({"links", "genome-scores", "genome-tags"})

Reader = Callable[..., ReadOutcome]


def _issue(
    severity: Severity, file: str, rule: str, message: str, *, column: str | None = None,
    rows: tuple[int, ...] = (), n_rows: int = 0, example: str = "",
) -> ValidationIssue:  # fmt: skip
    return ValidationIssue(severity, file, column, rule, message, rows, n_rows, example)


def _warning(file: str, rule: str, message: str, **details: object) -> ValidationIssue:
    return _issue("warning", file, rule, message, **details)  # type: ignore[arg-type]


def _error(file: str, rule: str, message: str, **details: object) -> ValidationIssue:
    return _issue("error", file, rule, message, **details)  # type: ignore[arg-type]


def is_data_file(source: Source) -> bool:
    """True for a file that may hold a table (by extension; read-me and hidden files are not)."""
    name = source.base_name
    if name.startswith(_NOT_DATA_PREFIXES):
        return False
    return source.extension in DATA_EXTENSIONS


def sources_from_path(path: Path) -> list[Source]:
    """The files of a dataset folder (not recursive), or the single file given."""
    if path.is_dir():
        return [Source(name=p.name, path=p) for p in sorted(path.iterdir()) if p.is_file()]
    return [Source(name=path.name, path=path)]


def sources_from_uploads(files: Mapping[str, bytes]) -> list[Source]:
    """Sources for uploaded files: name -> bytes (folders in names are dropped)."""
    return [
        Source(name=Path(str(name).replace("\\", "/")).name, data=bytes(data)) for name, data in files.items()
    ]


class _Context:
    """Shared reading options for one load."""

    def __init__(
        self, *, max_bytes: int, encoding: str | None, delimiter: str | None, explicit: Mapping[str, str],
        strict: bool = False,
    ):  # fmt: skip
        self.max_bytes = max_bytes
        self.encoding = encoding
        self.delimiter = delimiter
        self.explicit = explicit
        self.strict = strict  # an upload: every data file was chosen, so one left unread is an error

    def read(self, source: Source, **options: object) -> ReadOutcome:
        options.setdefault("encoding", self.encoding)
        options.setdefault("delimiter", self.delimiter)
        return read_table(source, max_bytes=self.max_bytes, **options)  # type: ignore[arg-type]


def _by_stem(sources: Sequence[Source]) -> dict[str, list[Source]]:
    out: dict[str, list[Source]] = {}
    for source in sources:
        out.setdefault(source.stem, []).append(source)
    return out


def _pick(
    stems: Mapping[str, list[Source]], names: Sequence[str], table: str, issues: list[ValidationIssue]
) -> Source | None:
    found = [s for name in names for s in stems.get(name, [])]
    if len(found) > 1:
        issues.append(
            _error(
                found[1].name,
                "duplicate_file",
                f"More than one file could be the {table} table ({', '.join(s.name for s in found)}); keep one.",
            )
        )
    return found[0] if found else None


def _add_table(bundle: Bundle, table: str, outcome: ReadOutcome) -> RawTable | None:
    bundle.issues.extend(outcome.issues)
    if outcome.table is None:
        bundle.unreadable.add(table)
        return None
    bundle.tables[table] = TablePlan(outcome.table)
    return outcome.table


_RENAME = "leave the file out of the upload, or name it events.*, items.* or users.* for the table it is"


def _unused(strict: bool, file: str, rule: str, message: str, fix: str = _RENAME) -> ValidationIssue:
    """A data file left out: an error in an upload (the analyst chose it: `fix` says what to do), else a warning."""
    if strict:
        return _error(file, rule, f"{message} Nothing was stored: {fix}.")
    return _warning(file, rule, f"{message} It was left out of the dataset.")


def _ignored(
    bundle: Bundle, sources: Sequence[Source], used: set[str], strict: bool, known: str, quiet: frozenset[str] = frozenset()
) -> None:
    for source in sources:
        if source.name in used:
            continue
        if not is_data_file(source) or source.stem in quiet or _metadata(source):
            log.info("%s: not used by the %s layout", source.name, bundle.layout)
            bundle.skipped.append(source.name)
            continue
        bundle.issues.append(_unused(strict, source.name, "ignored_file", f"The file is none of the {known}."))


# --- folder of events / items / users ----------------------------------------------------------


def _roles_by_table(raw: RawTable, explicit: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Per table, the roles a file's columns would take as that table (by synonyms or the explicit mapping)."""
    columns = list(map(str, raw.frame.columns))
    per_table, _ = split_explicit(explicit, {t: TableColumns(raw.file, tuple(columns)) for t in TABLES})
    return {t: resolve_table(t, columns, per_table.get(t, {})) for t in TABLES}


def table_by_columns(raw: RawTable, explicit: Mapping[str, str]) -> str | None:
    """The table a file's columns (found by synonyms or the explicit mapping) fit: events (user ID, item ID and
    timestamp), items (an item ID, no user ID) or users (a user ID, no item ID); None when none fits."""
    roles = _roles_by_table(raw, explicit)
    if all(role in roles["events"] for role in REQUIRED_ROLES["events"]):
        return "events"
    has_item, has_user = "item_id" in roles["items"], "user_id" in roles["users"]
    if has_item != has_user:
        return "items" if has_item else "users"
    return None


def _found_roles(raw: RawTable, explicit: Mapping[str, str]) -> str:
    """'user ID 'who', item ID 'what', no timestamp': the events roles found in a file, for a message."""
    roles = _roles_by_table(raw, explicit)["events"]
    words = {"user_id": "user ID", "item_id": "item ID", "timestamp": "timestamp"}
    return ", ".join(
        f"{words[r]} {roles[r]!r}" if r in roles else f"no {words[r]}" for r in REQUIRED_ROLES["events"]
    )


def _metadata(source: Source) -> bool:
    """A plain .json file (not JSON Lines, not gzip): often metadata, so one that is no table is not an error."""
    return source.base_name.endswith(".json")


def _unrecognised(raw: RawTable, source: Source, ctx: _Context) -> ValidationIssue:
    """Why a data file fits no table (a warning for plain .json, taken as metadata)."""
    if _metadata(source):
        return _warning(source.name, "unrecognised_file", "The columns fit no events, items or users table, so the "
                        "JSON file is taken as metadata and not read.")  # fmt: skip
    shown = ", ".join(map(str, raw.frame.columns[:12])) + (", …" if len(raw.frame.columns) > 12 else "")
    message = (
        f"The file name does not say which table this is (events, items or users), and its columns ({shown}; "
        f"found {_found_roles(raw, ctx.explicit)}) fit none: an events file has "
        f"{_FITS['events']}, an items file {_FITS['items']}, a users file {_FITS['users']}. Map a column "
        f"(e.g. timestamp=COLUMN) if one was not recognised."
    )
    return _unused(ctx.strict, source.name, "unrecognised_file", message)


def _by_columns(
    sources: Sequence[Source], ctx: _Context, issues: list[ValidationIssue]
) -> dict[str, list[tuple[Source, ReadOutcome]]]:
    """Data files not named for a table, read and grouped by the table their columns fit (problems into `issues`)."""
    found: dict[str, list[tuple[Source, ReadOutcome]]] = {}
    for source in sources:
        outcome = ctx.read(source)
        table = None if outcome.table is None else table_by_columns(outcome.table, ctx.explicit)
        if table is not None:
            found.setdefault(table, []).append((source, outcome))
        elif _metadata(source) and not ctx.strict:
            log.info("%s: no table; taken as metadata", source.name)
        elif outcome.table is not None:
            issues.append(_unrecognised(outcome.table, source, ctx))
        elif ctx.strict:
            issues.extend(outcome.issues)  # the read error names the file and what is wrong
        else:
            reason = next((i.message for i in outcome.issues if i.severity == "error"), "")
            issues.append(_unused(False, source.name, "unrecognised_file",
                                  f"The file could not be read as a table ({reason})"))  # fmt: skip
    return found


def import_folder(sources: Sequence[Source], ctx: _Context, layout: str, name: str) -> Bundle:
    """events.*, items.*, users.* by name (any supported format); other data files by their columns."""
    bundle = Bundle(layout=layout, name=name, skipped=[s.name for s in sources if not is_data_file(s)])
    data = [s for s in sources if is_data_file(s)]
    stems = _by_stem(data)
    chosen: dict[str, tuple[Source, ReadOutcome | None]] = {}
    for table, names in TABLE_STEMS.items():
        source = _pick(stems, names, table, bundle.issues)
        if source is not None:
            chosen[table] = (source, None)
    others = [s for s in data if s.stem not in _TABLE_NAMED]
    for table, found in _by_columns(others, ctx, bundle.issues).items():
        if table in chosen:
            named = chosen[table][0].name
            for source, _ in found:
                bundle.issues.append(_unused(ctx.strict, source.name, "ambiguous_file",
                                             f"The columns ({_FITS[table]}) make this another {table} table, but "
                                             f"{named} is the {table} table by its name, and a dataset has one.",
                                             f"leave it or {named} out of the upload"))  # fmt: skip
        elif len(found) > 1:
            files = ", ".join(s.name for s, _ in found)
            bundle.issues.append(_error(found[0][0].name, "ambiguous_file",
                                        f"{files} all look like the {table} table ({_FITS[table]}); a dataset has "
                                        f"one. Name the one to use {table}.* (e.g. {table}.csv) and leave the "
                                        "others out."))  # fmt: skip
            bundle.unreadable.add(table)
        else:
            chosen[table] = found[0]
            log.info("%s: read as the %s table (by its columns)", found[0][0].name, table)
    for table in TABLES:
        if table in chosen:
            source, outcome = chosen[table]
            _add_table(bundle, table, outcome or ctx.read(source))
    if "events" not in chosen and "events" not in bundle.unreadable:
        bundle.issues.append(_error(name, "no_events_file",
                                    "There is no events table: name the events file events.* (events.csv, "
                                    f"events.parquet, …), or give it {_FITS['events']} (map them with "
                                    "user_id=COLUMN, item_id=COLUMN, timestamp=COLUMN if their names differ)."))  # fmt: skip
        bundle.unreadable.add("events")
    return bundle


# --- MovieLens ----------------------------------------------------------------------------------


def _genre_names(sources: Mapping[str, Source], ctx: _Context) -> tuple[str, ...]:
    source = sources.get("u.genre")
    if source is None:
        return ML100K_GENRES
    outcome = ctx.read(
        source,
        header=False,
        names=("genre", "index"),
        delimiter="|",
        quoting=False,
        encoding=ctx.encoding or "latin-1",
    )
    if outcome.table is None or len(outcome.table.frame) != len(ML100K_GENRES):
        log.info("u.genre unusable; using the documented genre list")
        return ML100K_GENRES
    frame = outcome.table.frame
    order = pd.to_numeric(frame["index"], errors="coerce")
    if order.isna().any():
        return ML100K_GENRES
    return tuple(frame.sort_values("index", key=lambda s: pd.to_numeric(s))["genre"].astype(str))


def _ml100k_items(raw: RawTable, genres: Sequence[str]) -> RawTable:
    frame = raw.frame
    flags = frame.iloc[:, len(ML100K_ITEM_COLUMNS) :]
    joined = pd.Series("", index=frame.index, dtype="str")
    for column, genre in zip(flags.columns, genres, strict=True):
        joined = joined + (flags[column].str.strip() == "1").map({True: genre + LIST_SEPARATOR, False: ""}).astype("str")
    out = frame.iloc[:, : len(ML100K_ITEM_COLUMNS)].copy()
    out.insert(2, "category", joined.str.rstrip(LIST_SEPARATOR).replace("", np.nan))
    return RawTable(file=raw.file, frame=out, row_numbers=raw.row_numbers, fmt=raw.fmt, nested=raw.nested)


def import_movielens_100k(sources: Sequence[Source], ctx: _Context, name: str) -> Bundle:
    """GroupLens ml-100k: u.data, u.item (latin-1), u.user."""
    bundle = Bundle(layout="movielens-100k", name=name)
    by_name = {s.base_name: s for s in sources}
    _add_table(
        bundle,
        "events",
        ctx.read(by_name["u.data"], header=False, names=ML100K_EVENT_COLUMNS, delimiter="\t", quoting=False),
    )
    if "u.item" in by_name:
        genres = _genre_names(by_name, ctx)
        names = ML100K_ITEM_COLUMNS + tuple(f"genre_{i}" for i in range(len(genres)))
        outcome = ctx.read(
            by_name["u.item"],
            header=False,
            names=names,
            delimiter="|",
            quoting=False,
            encoding=ctx.encoding or "latin-1",
        )
        raw = _add_table(bundle, "items", outcome)
        if raw is not None:
            bundle.tables["items"] = TablePlan(_ml100k_items(raw, genres))
    if "u.user" in by_name:
        _add_table(
            bundle,
            "users",
            ctx.read(
                by_name["u.user"], header=False, names=ML100K_USER_COLUMNS, delimiter="|", quoting=False
            ),
        )
    return bundle


def _items_id_column(raw: RawTable, explicit: Mapping[str, str]) -> str | None:
    columns = list(map(str, raw.frame.columns))
    per_table, _ = split_explicit(explicit, {"items": TableColumns(raw.file, tuple(columns))})
    return resolve_table("items", columns, per_table.get("items", {})).get("item_id")


def _undated_tags(tags: RawTable, n: int) -> ValidationIssue:
    """The warning that tags join the item texts whatever their date (so a held-out period's tags are read too)."""
    column = next((c for c in map(str, tags.frame.columns) if normalize_name(c) in ("timestamp", "time", "date")), None)
    span = ""
    if column is not None:
        times = pd.to_datetime(pd.to_numeric(tags.frame[column], errors="coerce"), unit="s", utc=True, errors="coerce").dropna()
        span = f" (written {times.min():%Y-%m-%d} to {times.max():%Y-%m-%d})" if len(times) else ""
    return _warning(tags.file, "undated_tags",
                    f"Its {n:,} tags{span} join each movie's text whatever their date, so a model also reads tags written "
                    "after the events it predicts: where users tagged movies they rated in a held-out period, its figures "
                    "there are slightly optimistic.", column=column)  # fmt: skip


def _attach_tags(items: RawTable, tags: RawTable, ctx: _Context, issues: list[ValidationIssue]) -> RawTable:
    item_column = _items_id_column(items, ctx.explicit)
    columns = list(map(str, tags.frame.columns))
    tag_item = detect_roles("items", columns).get("item_id")
    tag_text = next((c for c in columns if normalize_name(c) in ("tag", "tags")), None)
    if item_column is None or tag_item is None or tag_text is None:
        issues.append(
            _warning(
                tags.file,
                "ignored_file",
                "The tags file needs an item ID column and a 'tag' column; it was not used.",
            )
        )
        return items
    pairs = pd.DataFrame({"item_id": to_id(tags.frame[tag_item]), "tag": tags.frame[tag_text]}).dropna()
    issues.append(_undated_tags(tags, len(pairs)))
    pairs = pairs.drop_duplicates()
    joined = pairs.groupby("item_id", sort=False)["tag"].agg(LIST_SEPARATOR.join)
    keys = to_id(items.frame[item_column])
    frame = items.frame.copy()
    name = "tags" if "tags" not in frame.columns else "tags_joined"
    frame[name] = keys.map(joined).astype("str")
    return RawTable(
        file=items.file, frame=frame, row_numbers=items.row_numbers, fmt=items.fmt, nested=items.nested
    )


def import_movielens(sources: Sequence[Source], ctx: _Context, name: str) -> Bundle:
    """MovieLens latest/25m style: ratings.csv, movies.csv, tags.csv."""
    bundle = Bundle(layout="movielens", name=name)
    stems = _by_stem([s for s in sources if is_data_file(s)])
    used: set[str] = set()
    ratings = _pick(stems, ("ratings",), "events", bundle.issues)
    assert ratings is not None
    used.add(ratings.name)
    _add_table(bundle, "events", ctx.read(ratings))
    movies = _pick(stems, ("movies",), "items", bundle.issues)
    tags = _pick(stems, ("tags",), "items", bundle.issues)
    if movies is not None:
        used.add(movies.name)
        items = _add_table(bundle, "items", ctx.read(movies))
        if items is not None and tags is not None:
            used.add(tags.name)
            outcome = ctx.read(tags)
            bundle.issues.extend(outcome.issues)
            if outcome.table is not None:
                bundle.tables["items"] = TablePlan(_attach_tags(items, outcome.table, ctx, bundle.issues))
    _ignored(bundle, sources, used, ctx.strict, "MovieLens files (ratings.*, movies.*, tags.*, links.*)", quiet=_MOVIELENS_KNOWN)
    return bundle


# --- transaction logs ---------------------------------------------------------------------------

TRANSACTION_REQUIRED: tuple[str, ...] = ("user_id", "item_id", "timestamp", "quantity", "price")
_TRANSACTION_ROLES: tuple[str, ...] = (*TRANSACTION_REQUIRED, "invoice", "title", "country")


def _explicit_for_transactions(
    raw: RawTable, explicit: Mapping[str, str], issues: list[ValidationIssue] | None
) -> dict[str, str]:
    """Explicit entries that name a column of the log, as transaction roles (problems into `issues`)."""
    columns = TableColumns(raw.file, tuple(map(str, raw.frame.columns)))
    per_table, problems = split_explicit(explicit, {"events": columns, "items": columns, "users": columns})
    if issues is not None:
        issues.extend(problems)
    merged: dict[str, str] = {}
    for table in ("users", "items", "events"):
        merged.update(per_table.get(table, {}))
    if "description" in merged and "title" not in merged:
        merged["title"] = merged.pop("description")
    return {role: column for role, column in merged.items() if role in _TRANSACTION_ROLES}


TRANSACTION_SIGNS: tuple[str, ...] = ("item_id", "timestamp", "quantity", "price")  # enough to read a file as a log
TRANSACTION_WORDS = {"user_id": "customer", "item_id": "product", "timestamp": "date", "quantity": "quantity", "price": "unit price"}


def looks_like_transactions(raw: RawTable, explicit: Mapping[str, str]) -> bool:
    """A transaction log: product, date, quantity and unit price columns (the customer may be missing: the import
    then says so) and no label column."""
    columns = list(map(str, raw.frame.columns))
    if any(key.split(".")[-1] in LABEL_ROLES for key in explicit):
        return False
    if set(LABEL_ROLES) & set(detect_roles("events", columns)):
        return False
    roles = detect_transaction_roles(columns, _explicit_for_transactions(raw, explicit, None))
    return all(role in roles for role in TRANSACTION_SIGNS)


def _mode_by(keys: pd.Series, values: pd.Series) -> pd.Series:
    """The most frequent non-missing value per key (ties: the first seen)."""
    pairs = pd.DataFrame({"key": keys, "value": values}).dropna()
    counts = pairs.groupby(["key", "value"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates("key")
    return counts.set_index("key")["value"]


def _rows_warning(
    raw: RawTable, rule: str, column: str | None, mask: np.ndarray, message: str
) -> ValidationIssue | None:
    """A warning for the masked rows; `{n}` and `{share}` in the message become the count and share."""
    positions = np.flatnonzero(mask)
    if not len(positions):
        return None
    share = len(positions) / max(1, len(mask))
    return _warning(
        raw.file,
        rule,
        message.replace("{n}", f"{len(positions):,}").replace("{share}", f"{share:.1%}"),
        column=column,
        rows=tuple(int(r) for r in raw.row_numbers[positions[:10]]),
        n_rows=len(positions),
    )


def _non_numeric(
    raw: RawTable, column: str, role: str, numbers: Numbers, rows: np.ndarray
) -> ValidationIssue | None:
    positions = np.flatnonzero((numbers.non_numeric | numbers.non_finite) & rows)
    if not len(positions):
        return None
    return _error(
        raw.file,
        "non_numeric_value",
        f"{len(positions):,} row(s) have a {role} that is not a finite number.",
        column=column,
        rows=tuple(int(r) for r in raw.row_numbers[positions[:10]]),
        n_rows=len(positions),
        example=str(raw.frame[column].iloc[positions[0]]),
    )


# A line whose description is made of these words only, one of them a SERVICE_WORDS one, is a charge or an adjustment
# ("POSTAGE", "DOTCOM POSTAGE", "Bank Charges", "AMAZON FEE", "Manual", "Discount"), not a product: Online Retail's
# POSTAGE line is on the invoices of 73% of its customers outside the UK (the 92nd most bought of 3,665 products).
SERVICE_WORDS = frozenset({"postage", "carriage", "shipping", "delivery", "charge", "charges", "fee", "fees", "discount",
                           "manual", "sample", "samples", "adjustment", "adjust", "commission", "debt"})  # fmt: skip
SERVICE_QUALIFIERS = frozenset({"dotcom", "next", "day", "bank", "amazon", "packing", "handling", "bad", "cruk", "and", "&"})


def service_lines(descriptions: pd.Series) -> np.ndarray:
    """Which descriptions name a service line (postage, a fee, a discount, a manual adjustment), not a product."""
    words = descriptions.fillna("").astype(str).str.lower().str.findall(r"[a-z&]+")
    return np.fromiter(
        (bool(w) and set(w) <= SERVICE_WORDS | SERVICE_QUALIFIERS and bool(set(w) & SERVICE_WORDS) for w in words),
        dtype=bool, count=len(words),
    )  # fmt: skip


def _service_warning(raw: RawTable, roles: Mapping[str, str], mask: np.ndarray) -> ValidationIssue | None:
    """The dropped service lines, named by item and description with their row counts (all of up to eight kinds; else
    the five most frequent and how many more)."""
    if not mask.any():
        return None
    lines = pd.DataFrame({"item": _text(raw.frame[roles["item_id"]])[mask].str.strip(),
                          "title": _text(raw.frame[roles["title"]])[mask].str.strip()})  # fmt: skip
    counts = lines.value_counts(sort=True)
    shown = counts if len(counts) <= 8 else counts.head(5)  # an audit: "...; 2 more" hid two that fitted
    named = "; ".join(f"{item} {title!r} ({n:,})" for (item, title), n in shown.items())
    more = f"; {len(counts) - len(shown):,} more kinds" if len(counts) > len(shown) else ""
    return _rows_warning(raw, "dropped_service_line", roles["title"], mask,
                         "{n} row(s) are service lines, not products, and were dropped: " + named + more + ". A charge, "
                         "a fee or an adjustment is not an item a customer values; left in, it reads as a popular product.")  # fmt: skip


def _transaction_filter(
    raw: RawTable, roles: Mapping[str, str], users: pd.Series, quantity: Numbers, price: Numbers
) -> tuple[np.ndarray, list[ValidationIssue | None]]:
    """Rows to keep (customer present, not cancelled, quantity and price > 0, not a service line) and the warnings."""
    frame = raw.frame
    no_user = users.isna().to_numpy()
    cancelled = np.zeros(len(frame), bool)
    if "invoice" in roles:
        invoice = _text(frame[roles["invoice"]]).str.strip().str.upper()
        cancelled = invoice.str.startswith("C").fillna(False).to_numpy(dtype=bool) & ~no_user
    non_positive = ((quantity.values <= 0) | (price.values <= 0)) & ~no_user & ~cancelled
    service = np.zeros(len(frame), bool)
    if "title" in roles:
        service = service_lines(frame[roles["title"]]) & ~no_user & ~cancelled & ~non_positive
    found = [
        _rows_warning(raw, "duplicate_rows", None, frame.duplicated(keep="first").to_numpy(),
                      "{n} row(s) are exact duplicates of an earlier line (kept)."),
        _rows_warning(raw, "dropped_missing_user", roles["user_id"], no_user,
                      "{n} row(s) ({share}) have no " + roles["user_id"] + " and were dropped."),
        _rows_warning(raw, "dropped_cancellation", roles.get("invoice"), cancelled,
                      "{n} cancellation row(s) (invoice starting with 'C') were dropped."),
        _rows_warning(raw, "dropped_non_positive", None, non_positive,
                      "{n} row(s) with a quantity or unit price of zero or less were dropped."),
        _service_warning(raw, roles, service),
        _non_numeric(raw, roles["quantity"], "quantity", quantity, ~no_user),
        _non_numeric(raw, roles["price"], "price", price, ~no_user),
    ]  # fmt: skip
    return ~no_user & ~cancelled & ~non_positive & ~service, found


def _text(series: pd.Series) -> pd.Series:
    return series if series.dtype == "str" else series.astype("str")


def _first_rows(keys: pd.Series, row_numbers: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Distinct keys in first-seen order and the source row number of each one's first line."""
    first = ~keys.duplicated().to_numpy()
    return keys[first].reset_index(drop=True), row_numbers[first]


def import_transactions(raw: RawTable, ctx: _Context, name: str) -> Bundle:
    """Invoice lines -> purchase events, items (most frequent title, median price) and users (country)."""
    bundle = Bundle(layout="transactions", name=name, mapping_checked=True)
    columns = list(map(str, raw.frame.columns))
    roles = detect_transaction_roles(columns, _explicit_for_transactions(raw, ctx.explicit, bundle.issues))
    missing = [r for r in TRANSACTION_REQUIRED if r not in roles]
    for role in missing:
        examples = ", ".join(transaction_synonyms(role)[:4])
        bundle.issues.append(_error(raw.file, "missing_required_column",
                                    f"The transaction log needs a {TRANSACTION_WORDS[role]} column ({role}); none of the columns "
                                    f"({', '.join(columns)}) matches it (synonyms include {examples}). Rename a column or "
                                    f"map one with {role}=COLUMN.", column=role))  # fmt: skip
    if missing:
        bundle.unreadable.update({"events", "items", "users"})
        return bundle
    frame = raw.frame
    users = to_id(frame[roles["user_id"]])
    quantity, price = to_numbers(frame[roles["quantity"]]), to_numbers(frame[roles["price"]])
    keep, found = _transaction_filter(raw, roles, users, quantity, price)
    bundle.issues.extend(issue for issue in found if issue is not None)

    kept = frame[keep]
    rows = raw.row_numbers[keep]
    item_ids, user_ids = to_id(frame[roles["item_id"]])[keep], users[keep]
    qty = pd.Series(quantity.values[keep], index=kept.index)
    unit = pd.Series(price.values[keep], index=kept.index)
    events = {
        "user_id": user_ids,
        "item_id": item_ids,
        "timestamp": kept[roles["timestamp"]],
        "event_type": pd.Series("purchase", index=kept.index, dtype="str"),
        "label": pd.Series(1, index=kept.index, dtype=np.int8),
        "quantity": qty,
        "revenue": qty * unit,
        "unit_price": unit,
    }
    if "invoice" in roles:
        events["invoice"] = kept[roles["invoice"]]
    claimed = {roles[r] for r in _TRANSACTION_ROLES if r in roles}
    events.update({c: kept[c] for c in columns if c not in claimed and c not in events})
    bundle.tables["events"] = TablePlan(
        RawTable(raw.file, pd.DataFrame(events).reset_index(drop=True), rows, raw.fmt),
        fixed={
            r: r for r in ("user_id", "item_id", "timestamp", "event_type", "label", "quantity", "revenue")
        },
        display={r: roles[r] for r in ("user_id", "item_id", "timestamp", "quantity")},
    )

    item_keys, item_rows = _first_rows(item_ids, rows)
    items = {"item_id": item_keys}
    display = {"item_id": roles["item_id"]}
    if "title" in roles:
        items["title"] = item_keys.map(_mode_by(item_ids, kept[roles["title"]])).astype("str")
        display["title"] = roles["title"]
    items["price"] = item_keys.map(unit.groupby(item_ids, sort=False).median())
    display["price"] = roles["price"]
    bundle.tables["items"] = TablePlan(
        RawTable(raw.file, pd.DataFrame(items), item_rows, raw.fmt),
        fixed={r: r for r in items},
        display=display,
    )

    user_keys, user_rows = _first_rows(user_ids, rows)
    users_out = {"user_id": user_keys}
    if "country" in roles:
        users_out["country"] = user_keys.map(_mode_by(user_ids, kept[roles["country"]])).astype("str")
    bundle.tables["users"] = TablePlan(
        RawTable(raw.file, pd.DataFrame(users_out), user_rows, raw.fmt),
        fixed={"user_id": "user_id"},
        display={"user_id": roles["user_id"]},
    )
    return bundle


# --- single data file ----------------------------------------------------------------------------


def looks_like_amazon(raw: RawTable) -> bool:
    """Amazon review JSON: has reviewerID and asin keys."""
    names = {normalize_name(c) for c in raw.frame.columns}
    return raw.fmt == "json" and {"reviewerid", "asin"} <= names


def import_single(source: Source, ctx: _Context, generic_layout: str, name: str) -> Bundle:
    """One data file: Amazon reviews, a transaction log, or the events table."""
    outcome = ctx.read(source)
    if outcome.table is not None and looks_like_amazon(outcome.table):
        layout = "amazon-reviews"
    elif outcome.table is not None and looks_like_transactions(outcome.table, ctx.explicit):
        bundle = import_transactions(outcome.table, ctx, name)
        bundle.issues[:0] = outcome.issues
        return bundle
    else:
        layout = generic_layout
    bundle = Bundle(layout=layout, name=name)
    _add_table(bundle, "events", outcome)
    return bundle


def detect_layout(sources: Sequence[Source]) -> str:
    """The layout: movielens-100k (u.data), folder (a file named for a table, or several data files: tables by name
    or columns), movielens (ratings.*), or single (one data file, decided by content)."""
    names = {s.base_name for s in sources}
    data = [s for s in sources if is_data_file(s)]
    stems = {s.stem for s in data}
    if "u.data" in names:
        return "movielens-100k"
    if stems & _TABLE_NAMED:
        return "folder"
    if "ratings" in stems:
        return "movielens"
    return "folder" if len(data) > 1 else "single"


def import_sources(
    sources: Sequence[Source],
    *,
    name: str,
    generic_layout: str,
    explicit: Mapping[str, str],
    encoding: str | None,
    delimiter: str | None,
    max_bytes: int,
    strict: bool = False,
) -> Bundle:
    """Detect the layout of the given files and read them into a Bundle for validation (`strict`: an upload, where a
    data file left unread is an error)."""
    ctx = _Context(max_bytes=max_bytes, encoding=encoding, delimiter=delimiter, explicit=explicit, strict=strict)
    layout = detect_layout(sources)
    log.info("%s: layout %s from %d file(s)", name, layout, len(sources))
    if layout == "movielens-100k":
        return import_movielens_100k(sources, ctx, name)
    if layout == "folder":
        return import_folder(sources, ctx, generic_layout, name)
    if layout == "movielens":
        return import_movielens(sources, ctx, name)
    candidates = [s for s in sources if is_data_file(s)] if len(sources) > 1 else list(sources)
    if candidates:  # one data file (several make the folder layout)
        return import_single(candidates[0], ctx, generic_layout, name)
    bundle = Bundle(layout=generic_layout, name=name)
    listing = ", ".join(s.name for s in sources) or "none"
    bundle.issues.append(
        _error(
            name,
            "no_events_file",
            f"No data file was found (files: {listing}); expected events.csv (or .csv.gz, .parquet, "
            ".jsonl) and optional items/users files.",
        )
    )
    bundle.unreadable.add("events")
    return bundle
