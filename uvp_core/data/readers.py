"""Read one data file (CSV-like text, Parquet or JSON Lines; gzip allowed) into a raw table.

Reading never raises for bad input: every problem comes back as a `ValidationIssue`. Values are not
converted here (CSV columns are all text; Parquet/JSON keep their scalar types); `validate` turns
the raw table into the canonical form.

Checks made here: size limit (also on the decompressed size, while streaming gzip), empty file,
binary content, text encoding (UTF-8 with or without BOM only, unless an encoding is given),
delimiter detection and wrong forced delimiter, ragged rows, a quote left open to the end of the file,
duplicate header names, unreadable Parquet/JSON, and Parquet files whose uncompressed size exceeds the limit.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from uvp_core.data.contract import ValidationIssue

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_MB = 1024.0
MAX_FILE_ENV = "UVP_MAX_FILE_MB"
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
# Encodings offered by name (the Data page's Encoding choice), spelt as the non-UTF-8 messages name them
# (Python's codec names: iso8859-1 is latin-1); any other name Python's codecs know is accepted too.
ENCODINGS: tuple[str, ...] = (
    "cp1252", "iso8859-1", "iso8859-15", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1250", "cp1251",
    "mac-roman", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr",
)  # fmt: skip

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"

PARQUET_EXTENSIONS = frozenset({"parquet", "pq"})
JSON_EXTENSIONS = frozenset({"json", "jsonl", "ndjson"})
TEXT_EXTENSIONS = frozenset({"csv", "tsv", "txt", "dat", "data", "psv", "tab"})
DATA_EXTENSIONS = PARQUET_EXTENSIONS | JSON_EXTENSIONS | TEXT_EXTENSIONS

_SNIFF_BYTES = 1 << 16
_READ_CHUNK = 1 << 20
_DECODE_CHUNK = 1 << 24
_SNIFF_RECORDS = 50
_EXAMPLE_CHARS = 120
_ROLE_WORDS = frozenset(
    {"user", "userid", "item", "itemid", "timestamp", "time", "date", "rating", "label", "event", "eventtype"}
)


# --- sources and raw tables -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A file to read: a path on disk or bytes in memory, with the name used in reports."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    @property
    def size(self) -> int:
        """Size in bytes as stored (compressed size for gzip files)."""
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    @property
    def base_name(self) -> str:
        """The lower-case file name without folders."""
        return Path(self.name).name.lower()

    @property
    def stem(self) -> str:
        """The lower-case file name without `.gz` and without the format extension."""
        name = self.base_name
        if name.endswith(".gz"):
            name = name[:-3]
        stem, dot, ext = name.rpartition(".")
        return stem if dot and ext in DATA_EXTENSIONS else name

    @property
    def extension(self) -> str:
        """The format extension (without `.gz`), lower-case; '' when there is none."""
        name = self.base_name
        if name.endswith(".gz"):
            name = name[:-3]
        _, dot, ext = name.rpartition(".")
        return ext if dot else ""


@dataclass
class RawTable:
    """A table as read from one file: the file's columns, values not yet converted."""

    file: str
    frame: pd.DataFrame
    row_numbers: np.ndarray  # 1-based data row number (header excluded) of each frame row
    fmt: str  # csv | parquet | json
    nested: dict[str, str] = field(default_factory=dict)  # column -> type, for non-scalar columns


@dataclass
class ReadOutcome:
    """The table read from one file (None when it could not be read) and the problems found."""

    table: RawTable | None
    issues: list[ValidationIssue]


class _Stop(Exception):
    """Internal: reading this file stops with one error."""

    def __init__(self, issue: ValidationIssue):
        super().__init__(issue.message)
        self.issue = issue


def _error(
    file: str, rule: str, message: str, *, column: str | None = None,
    rows: tuple[int, ...] = (), n_rows: int = 0, example: str = "",
) -> ValidationIssue:  # fmt: skip
    return ValidationIssue("error", file, column, rule, message, rows, n_rows, example)


def _format_mb(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:.3g} MB"


def _clip(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"


# --- size limit -------------------------------------------------------------------------------


def resolve_max_bytes(max_file_mb: float | None = None) -> int:
    """The per-file size limit in bytes: the argument, else env UVP_MAX_FILE_MB, else 1 GiB."""
    if max_file_mb is None:
        env = os.environ.get(MAX_FILE_ENV, "").strip()
        if env:
            try:
                max_file_mb = float(env)
            except ValueError as exc:
                raise ValueError(f"{MAX_FILE_ENV}={env!r} is not a number of megabytes") from exc
        else:
            max_file_mb = DEFAULT_MAX_FILE_MB
    if not 0 < max_file_mb < float("inf"):
        raise ValueError(f"the file size limit ({MAX_FILE_ENV} or max_file_mb) must be a positive, finite number of megabytes, got {max_file_mb!r}")
    return int(max_file_mb * 1024 * 1024)


def _too_large(file: str, limit: int, what: str) -> ValidationIssue:
    return _error(
        file,
        "file_too_large",
        f"The file {what} more than the {_format_mb(limit)} limit; split it, or raise the limit with "
        f"{MAX_FILE_ENV} or max_file_mb.",
    )


def _iter_chunks(source: Source) -> Iterator[bytes]:
    if source.data is not None:
        view = memoryview(source.data)
        for start in range(0, len(view), _READ_CHUNK):
            yield bytes(view[start : start + _READ_CHUNK])
        return
    assert source.path is not None
    with source.path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            yield chunk


def _gunzip_limited(chunks: Iterable[bytes], limit: int, file: str) -> bytes:
    """Decompress gzip (all members) while counting; stop as soon as the output passes `limit`."""
    parts: list[bytes] = []
    total = 0
    decomp = zlib.decompressobj(wbits=31)
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = decomp.decompress(data, _READ_CHUNK)
                total += len(out)
                if total > limit:
                    raise _Stop(_too_large(file, limit, "decompresses to"))
                parts.append(out)
                if decomp.eof:
                    data = decomp.unused_data
                    if data.strip(b"\x00"):
                        decomp = zlib.decompressobj(wbits=31)
                    else:
                        data = b""
                else:
                    data = decomp.unconsumed_tail
        tail = decomp.flush()
    except zlib.error as exc:
        raise _Stop(_error(file, "parse_error", f"The file is not a valid gzip file ({exc}).")) from None
    if not decomp.eof:  # also when nothing came out yet: a cut inside the header or the first block
        raise _Stop(_error(file, "parse_error", "The gzip file is truncated (it ends before its data does)."))
    total += len(tail)
    if total > limit:
        raise _Stop(_too_large(file, limit, "decompresses to"))
    parts.append(tail)
    return b"".join(parts)


def load_bytes(source: Source, limit: int) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic; raises _Stop past `limit`."""
    if source.size > limit:
        raise _Stop(_too_large(source.name, limit, "is"))
    head = source.data[:2] if source.data is not None else _read_head(source, 2)
    if head == GZIP_MAGIC:
        return _gunzip_limited(_iter_chunks(source), limit, source.name)
    if source.data is not None:
        return source.data
    assert source.path is not None
    return source.path.read_bytes()


def decompressed_bytes(source: Source, max_bytes: int) -> bytes | ValidationIssue:
    """The file's bytes (gunzipped when gzip), or the issue that stops reading it: too large, truncated or corrupt."""
    try:
        return load_bytes(source, max_bytes)
    except _Stop as stop:
        return stop.issue


def _read_head(source: Source, n: int) -> bytes:
    assert source.path is not None
    with source.path.open("rb") as handle:
        return handle.read(n)


# --- encoding and binary content --------------------------------------------------------------


_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


def _utf16_guess(sample: bytes) -> str | None:
    if sample.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if sample.startswith(b"\xff\xfe"):
        return "UTF-16-LE"
    if sample.startswith(b"\xfe\xff"):
        return "UTF-16-BE"
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul = even.count(0) / len(even)
    odd_nul = odd.count(0) / len(odd)
    if odd_nul > 0.3 and even_nul < 0.05:
        return "UTF-16-LE"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "UTF-16-BE"
    return None


def _looks_binary(sample: bytes) -> bool:
    if not sample:
        return False
    if sample.count(b"\x00") > max(2, len(sample) // 100):  # UTF-16, images, archives; a stray NUL in text is
        return True  # reported by row and column instead (validate: nul_character)
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls / len(sample) > 0.05


def _guess_encoding(data: bytes, around: int) -> str | None:
    from charset_normalizer import from_bytes

    start = max(0, around - _SNIFF_BYTES // 2)
    sample = data[:_SNIFF_BYTES] + b"\n" + data[start : start + _SNIFF_BYTES]
    best = from_bytes(sample).best()
    if best is None:
        return None
    try:
        guess = codecs.lookup(best.encoding).name
    except LookupError:
        return best.encoding
    # Small Western samples are ambiguous between single-byte code pages; the usual culprit is
    # Windows-1252 (Excel on Windows), so name it when the guess is single-byte and it fits.
    single_byte = len(sample.decode(guess, errors="replace")) == len(sample)
    if single_byte and guess != "cp1252":
        try:
            sample.decode("cp1252")
        except UnicodeDecodeError:
            return guess
        return "cp1252"
    return guess


def _first_invalid_utf8(data: bytes) -> int | None:
    """Offset of the first byte that is not valid UTF-8, or None; decodes in chunks to bound memory."""
    if data.isascii():
        return None
    start = 0
    n = len(data)
    while start < n:
        end = min(n, start + _DECODE_CHUNK)
        back = 0
        while end < n and back < 3 and 0x80 <= data[end] <= 0xBF:
            end -= 1
            back += 1
        try:
            data[start:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            return start + exc.start
        start = end
    return None


def _line_at(data: bytes, offset: int) -> tuple[int, bytes]:
    """(physical line number, 1-based, and the bytes of that line) for a byte offset."""
    line_no = data.count(b"\n", 0, offset) + 1
    begin = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    return line_no, data[begin : end if end >= 0 else len(data)]


def _place(line_no: int, row: int) -> str:
    """Where a byte is, as data row (header excluded, as the report's rows count) and file line."""
    if row > 0:
        return f"in data row {row:,} (line {line_no:,} of the file, counting the header)"
    return f"on line {line_no:,}, the header"


def _how_to_read(codec: str) -> str:
    """Where to choose an encoding: the Data page, the command line, Python."""
    return (
        f"choose {codec} under Encoding on the Data page, --encoding {codec} on the command line, "
        f"encoding='{codec}' in Python."
    )


def to_utf8(data: bytes, file: str, encoding: str | None, has_header: bool = True) -> bytes:
    """Check (or transcode from an explicit `encoding`) text bytes to UTF-8 without BOM; raises _Stop."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise _Stop(_error(file, "encoding_error", f"Unknown encoding {encoding!r}.")) from None
        if codec != "utf-8":
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                line_no, line = _line_at(data, exc.start)
                row = line_no - 1 if has_header else line_no
                raise _Stop(
                    _error(
                        file,
                        "encoding_error",
                        f"The file cannot be decoded as {encoding} (byte 0x{data[exc.start]:02x} "
                        f"{_place(line_no, row)}); check the encoding.",
                        rows=(row,) if row > 0 else (),
                        n_rows=1 if row > 0 else 0,
                        example=_clip(line.decode(codec, errors="replace")),
                    )
                ) from None
            return text.lstrip("\ufeff").encode("utf-8")
    sample = data[:_SNIFF_BYTES]
    wide = _utf16_guess(sample)
    if wide is not None:
        raise _Stop(
            _error(
                file,
                "non_utf8_encoding",
                f"The file is encoded as {wide}, not UTF-8; re-save it as UTF-8, or read it as it is: "
                + _how_to_read(wide.lower()),
            )
        )
    if sample.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        sample = sample[3:]
    if _looks_binary(sample):
        raise _Stop(
            _error(
                file,
                "binary_file",
                "The file is binary, not text (CSV/TSV/JSON Lines); check that the right file was chosen.",
            )
        )
    bad = _first_invalid_utf8(data)
    if bad is None:
        return data
    guess = _guess_encoding(data, bad)
    if guess is None:
        raise _Stop(
            _error(
                file,
                "binary_file",
                "The file is not text in any known encoding; check that the right file was chosen.",
            )
        )
    line_no, line = _line_at(data, bad)
    row = line_no - 1 if has_header else line_no
    raise _Stop(
        _error(
            file,
            "non_utf8_encoding",
            f"The file is not UTF-8 (byte 0x{data[bad]:02x} {_place(line_no, row)}); it looks like {guess}. "
            f"Re-save it as UTF-8, or read it as {guess}: " + _how_to_read(guess),
            rows=(row,) if row > 0 else (),
            n_rows=1 if row > 0 else 0,
            example=_clip(line.decode(guess, errors="replace")),
        )
    )


# --- CSV-like text ----------------------------------------------------------------------------


def _sample_records(text: str, delimiter: str, quoting: bool, truncated: bool) -> list[list[str]]:
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=False,
    )
    records: list[list[str]] = []
    try:
        for record in reader:
            if record:
                records.append(record)
            if len(records) > _SNIFF_RECORDS:
                break
    except csv.Error:
        pass
    if truncated and len(records) > 1 and len(records) <= _SNIFF_RECORDS:
        records.pop()  # the last record may be cut
    return records[:_SNIFF_RECORDS]


def delimiter_stats(text: str, quoting: bool = True, truncated: bool = False) -> dict[str, tuple[int, float]]:
    """For each candidate delimiter: (fields in the first record, share of sampled rows with that count)."""
    stats: dict[str, tuple[int, float]] = {}
    for delimiter in DELIMITERS:
        records = _sample_records(text, delimiter, quoting, truncated)
        if not records:
            stats[delimiter] = (0, 0.0)
            continue
        width = len(records[0])
        rest = records[1:]
        share = sum(len(r) == width for r in rest) / len(rest) if rest else 1.0
        stats[delimiter] = (width, share)
    return stats


def _best_delimiter(stats: dict[str, tuple[int, float]]) -> str | None:
    usable = [(share, width, d) for d, (width, share) in stats.items() if width > 1]
    if not usable:
        return None
    usable.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return usable[0][2]


def _show_delimiter(delimiter: str) -> str:
    return {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(delimiter, repr(delimiter))


def _choose_delimiter(text: str, truncated: bool, forced: str | None, quoting: bool, file: str) -> str:
    stats = delimiter_stats(text, quoting, truncated)
    best = _best_delimiter(stats)
    if forced is not None:
        records = _sample_records(text, forced, quoting, truncated)
        width = len(records[0]) if records else 0
        if width <= 1 and best is not None and best != forced and stats[best][1] >= 0.8:
            raise _Stop(
                _error(
                    file,
                    "wrong_delimiter",
                    f"With the delimiter {_show_delimiter(forced)} the header is a single column, but "
                    f"{_show_delimiter(best)} gives {stats[best][0]} columns; use {_show_delimiter(best)} "
                    "(or let the delimiter be detected).",
                    example=_clip(text.split("\n", 1)[0]),
                )
            )
        return forced
    if best is not None:
        return best
    first = text.split("\n", 1)[0].strip()
    tokens = {re.sub(r"[_\s]", "", t).lower() for t in re.split(r"[^\w]+", first) if t}
    if len(tokens & _ROLE_WORDS) >= 2:
        raise _Stop(
            _error(
                file,
                "wrong_delimiter",
                "The header was read as a single column: the file does not use one of the supported "
                "delimiters (comma, semicolon, tab, pipe). Re-save it with one of them.",
                example=_clip(first),
            )
        )
    return ","


def _unique_names(names: list[str], file: str, issues: list[ValidationIssue]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names):
        name = raw.strip() or f"column_{i + 1}"
        if name in seen:
            issues.append(
                _error(
                    file,
                    "duplicate_column",
                    f"The header has the column name {name!r} more than once; rename one of them.",
                    column=name,
                )
            )
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 1)
        out.append(name)
    return out


def _scan_ragged(
    text: str, delimiter: str, quoting: bool, width: int, header: bool
) -> tuple[np.ndarray, list[int], list[tuple[int, str]], tuple[int, list[str]]]:
    """Exact re-scan, used only after the fast reader saw bad rows: good rows, bad rows, one example, last record."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=False,
    )
    good: list[int] = []
    bad: list[int] = []
    examples: list[tuple[int, str]] = []
    row = 0
    last: list[str] = []
    skip_header = header
    for record in reader:
        if not record:
            continue
        if skip_header:
            skip_header = False
            continue
        row += 1
        last = record
        if len(record) == width:
            good.append(row)
        else:
            bad.append(row)
            if not examples:
                examples.append((len(record), delimiter.join(record)))
    return np.asarray(good, dtype=np.int64), bad, examples, (row, last)


def _runs_to_end(data: bytes, value: str | None) -> bool:
    """Whether the last field `value` is a quote never closed: the file ends with its opening quote and text."""
    return bool(value) and data.endswith(b'"' + value.replace('"', '""').encode("utf-8"))  # type: ignore[union-attr]


def _unclosed_quote(
    file: str, columns: Sequence[str], delimiter: str, row: int, record: Sequence[str]
) -> ValidationIssue:
    """The error for a quote opened in the last field of data row `row` and left open to the end of the file."""
    value = record[-1]
    column = columns[len(record) - 1] if len(record) <= len(columns) else None
    where = f"in column {column!r} " if column else ""
    swallowed = value.rstrip("\r\n").count("\n")
    return _error(
        file,
        "unclosed_quote",
        f"Row {row} opens a quote {where}that is never closed: it runs to the end of the file, swallowing "
        f"{swallowed:,} line(s) into that value. Close the quote (a quote inside a quoted value is written twice: \"\").",
        column=column,
        rows=(row,),
        n_rows=1,
        example=_clip(delimiter.join([*record[:-1], '"' + value.split("\n", 1)[0].rstrip("\r")])),
    )


def _ragged(
    file: str, width: int, bad: list[int], bad_rows: list[int], examples: list[tuple[int, str]]
) -> ValidationIssue:
    """The error for rows whose field count differs from the header's."""
    n_bad = len(bad) or len(bad_rows)
    got = examples[0][0] if examples else bad_rows[0]
    return _error(
        file,
        "ragged_rows",
        f"{n_bad:,} row(s) have a different number of fields than the header ({width}); the first "
        f"such row has {got}. Check quoting and delimiters in those rows.",
        rows=tuple(bad[:10]),
        n_rows=n_bad,
        example=_clip(examples[0][1]) if examples else "",
    )


_EXCEL_SEP = re.compile(rb"sep=([^\r\n])\r?\n")  # a first line "sep=;" (written by Excel) names the delimiter


def _read_csv(
    data: bytes,
    file: str,
    *,
    delimiter: str | None,
    header: bool,
    names: Sequence[str] | None,
    quoting: bool,
) -> ReadOutcome:
    issues: list[ValidationIssue] = []
    excel = _EXCEL_SEP.match(data[:16])
    if excel and header:  # Excel's "sep=;" first line names the delimiter; the header follows it
        delimiter = delimiter or excel.group(1).decode()
        data = data[excel.end() :]
    truncated = len(data) > _SNIFF_BYTES
    head_text = data[:_SNIFF_BYTES].decode("utf-8", errors="replace")
    if not head_text.strip():
        raise _Stop(_error(file, "empty_file", "The file is empty."))
    delimiter = _choose_delimiter(head_text, truncated, delimiter, quoting, file)
    if header:
        records = _sample_records(head_text, delimiter, quoting, truncated)
        columns = _unique_names(records[0] if records else [], file, issues)
    else:
        assert names is not None, "a file without header needs column names"
        columns = list(names)
    width = len(columns)
    generated = [f"f{i}" for i in range(width)]
    bad_rows: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row.actual_columns)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=generated, skip_rows=1 if header else 0, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoting else False,
                newlines_in_values=quoting,
                ignore_empty_lines=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={g: pa.string() for g in generated},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
                check_utf8=False,
            ),
        )
    except pa.ArrowException as exc:
        raise _Stop(
            _error(file, "parse_error", f"The file could not be parsed as delimited text: {exc}")
        ) from None
    table = table.rename_columns(columns)
    row_numbers = np.arange(1, table.num_rows + 1, dtype=np.int64)
    if quoting and not bad_rows and table.num_rows and _runs_to_end(data, table.column(width - 1)[-1].as_py()):
        last = table.slice(table.num_rows - 1).to_pylist()[0]
        return ReadOutcome(None, [*issues, _unclosed_quote(file, columns, delimiter, table.num_rows, [v or "" for v in last.values()])])
    if bad_rows:
        text = data.decode("utf-8", errors="replace")
        good, bad, examples, (last_row, last_record) = _scan_ragged(text, delimiter, quoting, width, header)
        if quoting and last_record and _runs_to_end(data, last_record[-1]):
            issues.append(_unclosed_quote(file, columns, delimiter, last_row, last_record))
            if last_row in bad:
                bad.remove(last_row)
            if not bad:  # the open quote was the only bad row: nothing else to report
                return ReadOutcome(None, issues)
            return ReadOutcome(None, [*issues, _ragged(file, width, bad, bad_rows, examples)])
        if len(good) == table.num_rows:
            row_numbers = good
        else:  # the two parsers disagree; keep fast-reader numbering
            log.warning("%s: ragged-row re-scan disagrees with the fast reader", file)
        issues.append(_ragged(file, width, bad, bad_rows, examples))
    if table.num_rows == 0 and not bad_rows:
        raise _Stop(_error(file, "empty_file", "The file has a header but no data rows."))
    log.debug("%s: read %d rows x %d columns (delimiter %r)", file, table.num_rows, width, delimiter)
    frame = table.to_pandas()
    return ReadOutcome(RawTable(file=file, frame=frame, row_numbers=row_numbers, fmt="csv"), issues)


# --- Arrow / Parquet / JSON -------------------------------------------------------------------


def _is_unsupported(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_nested(dtype)
        or isinstance(dtype, pa.BaseExtensionType)
        or pa.types.is_time(dtype)
        or pa.types.is_duration(dtype)
        or pa.types.is_interval(dtype)
        or pa.types.is_binary(dtype)
        or pa.types.is_large_binary(dtype)
        or pa.types.is_fixed_size_binary(dtype)
    )


def _json_text(values: list[object]) -> pa.Array:
    def dump(v: object) -> str | None:
        if v is None:
            return None
        if isinstance(v, bytes):
            return v.hex()
        return json.dumps(v, default=str, ensure_ascii=False)

    return pa.array([dump(v) for v in values], type=pa.string())


def _types_mapper(dtype: pa.DataType) -> object:
    if pa.types.is_integer(dtype):
        return pd.Int64Dtype()
    if pa.types.is_boolean(dtype):
        return pd.BooleanDtype()
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pd.StringDtype(na_value=np.nan)
    return None


def arrow_to_raw(table: pa.Table, file: str, fmt: str, issues: list[ValidationIssue]) -> RawTable:
    """A raw table from an Arrow table: scalars kept, non-scalar columns turned into JSON text."""
    columns = _unique_names([str(c) for c in table.column_names], file, issues)
    table = table.rename_columns(columns)
    nested: dict[str, str] = {}
    arrays: list[pa.ChunkedArray] = []
    for name, column in zip(columns, table.columns, strict=True):
        dtype = column.type
        if pa.types.is_dictionary(dtype):
            column = column.cast(dtype.value_type)
            dtype = column.type
        if pa.types.is_decimal(dtype):
            column = column.cast(pa.float64())
        elif pa.types.is_null(dtype):
            column = column.cast(pa.string())
        elif pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
            column = column.cast(pa.string())
        elif _is_unsupported(dtype):
            nested[name] = str(dtype)
            storage = column
            if isinstance(dtype, pa.BaseExtensionType):
                storage = pa.chunked_array([c.storage for c in column.chunks], type=dtype.storage_type)
            column = pa.chunked_array([_json_text(storage.to_pylist())], type=pa.string())
        arrays.append(column)
    table = pa.Table.from_arrays(arrays, names=columns)
    frame = table.to_pandas(types_mapper=_types_mapper, date_as_object=False)
    return RawTable(
        file=file,
        frame=frame,
        row_numbers=np.arange(1, len(frame) + 1, dtype=np.int64),
        fmt=fmt,
        nested=nested,
    )


def _read_parquet(data: bytes, file: str, limit: int) -> ReadOutcome:
    issues: list[ValidationIssue] = []
    buffer = pa.py_buffer(data)
    try:
        meta = pq.ParquetFile(pa.BufferReader(buffer)).metadata
        expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if expanded > limit:
            raise _Stop(_too_large(file, limit, "expands to"))
        table = pq.read_table(pa.BufferReader(buffer))
    except (pa.ArrowException, OSError) as exc:
        raise _Stop(
            _error(file, "parse_error", f"The file is not a readable Parquet file ({exc}).")
        ) from None
    table = table.drop_columns([c for c in table.column_names if str(c).startswith("__index_level_")])
    if table.num_rows == 0 or table.num_columns == 0:
        raise _Stop(_error(file, "empty_file", "The Parquet file has no rows."))
    return ReadOutcome(arrow_to_raw(table, file, "parquet", issues), issues)


def _records_to_raw(
    records: list[dict[str, object]], rows: list[int], file: str, issues: list[ValidationIssue]
) -> RawTable:
    names: dict[str, None] = {}
    for record in records:
        for key in record:
            names.setdefault(str(key), None)
    arrays = []
    nested: dict[str, str] = {}
    for name in names:
        values = [r.get(name) for r in records]
        kinds = {type(v) for v in values if v is not None}
        if kinds & {list, dict}:
            nested[name] = "json"
            arrays.append(_json_text(values))
        elif kinds <= {int} or kinds <= {float} or kinds <= {int, float} or kinds <= {bool} or kinds <= {str}:
            arrays.append(pa.array(values))
        else:
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
    table = pa.Table.from_arrays(arrays, names=list(names)) if names else pa.table({})
    raw = arrow_to_raw(table, file, "json", issues)
    raw.nested.update(nested)
    raw.row_numbers = np.asarray(rows, dtype=np.int64)
    return raw


def _read_json_slow(data: bytes, file: str) -> ReadOutcome:
    """Line-by-line JSON reader, used only when the fast reader fails: finds the bad lines."""
    issues: list[ValidationIssue] = []
    records: list[dict[str, object]] = []
    rows: list[int] = []
    bad: list[int] = []
    example = ""
    row = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        row += 1
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            bad.append(row)
            example = example or line.decode("utf-8", errors="replace").strip()
            continue
        records.append(value)
        rows.append(row)
    if bad:
        issues.append(
            _error(
                file,
                "parse_error",
                f"{len(bad):,} line(s) are not JSON objects; each line must be one JSON object.",
                rows=tuple(bad[:10]),
                n_rows=len(bad),
                example=_clip(example),
            )
        )
    if not records:
        if bad:
            return ReadOutcome(None, issues)
        raise _Stop(_error(file, "empty_file", "The file has no records."))
    return ReadOutcome(_records_to_raw(records, rows, file, issues), issues)


def _read_json(data: bytes, file: str) -> ReadOutcome:
    stripped = data.lstrip()
    if not stripped:
        raise _Stop(_error(file, "empty_file", "The file is empty."))
    if stripped.startswith(b"["):
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise _Stop(_error(file, "parse_error", f"The file is not valid JSON ({exc}).")) from None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _Stop(_error(file, "parse_error", "A JSON array file must hold one object per record."))
        if not value:
            raise _Stop(_error(file, "empty_file", "The file has no records."))
        issues: list[ValidationIssue] = []
        return ReadOutcome(_records_to_raw(value, list(range(1, len(value) + 1)), file, issues), issues)
    try:
        table = pajson.read_json(pa.py_buffer(data), read_options=pajson.ReadOptions(block_size=1 << 24))
    except pa.ArrowException as exc:
        log.info("%s: fast JSON reader failed (%s); re-reading line by line", file, exc)
        return _read_json_slow(data, file)
    if table.num_rows == 0:
        raise _Stop(_error(file, "empty_file", "The file has no records."))
    issues = []
    return ReadOutcome(arrow_to_raw(table, file, "json", issues), issues)


# --- entry point ------------------------------------------------------------------------------


def sniff_format(source: Source, data: bytes) -> str:
    """'parquet', 'json' or 'csv' from the content's magic bytes, else from the file extension."""
    if data[:4] == PARQUET_MAGIC:
        return "parquet"
    ext = source.extension
    if ext in PARQUET_EXTENSIONS:
        return "parquet"
    if ext in JSON_EXTENSIONS:
        return "json"
    first = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if first == b"{" else "csv"


def read_table(
    source: Source,
    *,
    max_bytes: int,
    encoding: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
    quoting: bool = True,
) -> ReadOutcome:
    """Read one file into a RawTable, collecting every problem found as issues (never raises for bad data)."""
    try:
        data = load_bytes(source, max_bytes)
        if not data[:_SNIFF_BYTES].strip() and not data.strip():
            raise _Stop(
                _error(
                    source.name,
                    "empty_file",
                    "The file is empty (0 bytes)." if not data else "The file is empty.",
                )
            )
        if data[:4] == ZIP_MAGIC:
            raise _Stop(
                _error(
                    source.name,
                    "binary_file",
                    "The file is a ZIP archive (or an Excel workbook), not CSV/Parquet/JSON; unzip it or "
                    "export the sheet as CSV.",
                )
            )
        fmt = sniff_format(source, data)
        if fmt == "parquet":
            if data[:4] != PARQUET_MAGIC:
                if _looks_binary(data[:_SNIFF_BYTES]):
                    raise _Stop(
                        _error(
                            source.name,
                            "binary_file",
                            "The file is not a Parquet file (no Parquet signature).",
                        )
                    )
                raise _Stop(
                    _error(
                        source.name, "parse_error", "The file is named as Parquet but is not a Parquet file."
                    )
                )
            return _read_parquet(data, source.name, max_bytes)
        text = to_utf8(data, source.name, encoding, has_header=header)
        del data
        if fmt == "json":
            return _read_json(text, source.name)
        return _read_csv(text, source.name, delimiter=delimiter, header=header, names=names, quoting=quoting)
    except _Stop as stop:
        return ReadOutcome(None, [stop.issue])
    except OSError as exc:
        return ReadOutcome(None, [_error(source.name, "parse_error", f"The file could not be read ({exc}).")])
