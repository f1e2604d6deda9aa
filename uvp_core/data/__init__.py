"""The data layer: load a dataset folder, a file or uploaded files into the canonical `Dataset`.

`load_path` and `load_uploads` never raise for bad data: every problem found is in
`LoadResult.report`, and `LoadResult.dataset` is None whenever the report has an error.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from uvp_core.data.contract import (
    Dataset,
    DataValidationError,
    ValidationIssue,
    ValidationReport,
)
from uvp_core.data.importers import (
    TABLE_STEMS,
    detect_layout,
    import_sources,
    is_data_file,
    sources_from_path,
    sources_from_uploads,
)
from uvp_core.data.mapping import detect_mapping, parse_map_args
from uvp_core.data.readers import DEFAULT_MAX_FILE_MB, ENCODINGS, MAX_FILE_ENV, resolve_max_bytes
from uvp_core.data.validate import build_dataset

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_FILE_MB",
    "ENCODINGS",
    "MAX_FILE_ENV",
    "DataValidationError",
    "Dataset",
    "LAYOUT_NAMES",
    "LoadResult",
    "ValidationIssue",
    "ValidationReport",
    "default_upload_name",
    "detect_mapping",
    "layout_name",
    "load_path",
    "load_uploads",
    "parse_map_args",
]

_DATA_SUFFIX = re.compile(
    r"(\.(csv|tsv|txt|dat|data|psv|tab|parquet|pq|json|jsonl|ndjson))?(\.gz)?$", re.IGNORECASE
)


LAYOUT_NAMES = {
    "folder": "a dataset folder (events, optional items and users tables)",
    "upload": "tables recognised by their file names (events, items, users) or else by their columns",
    "movielens": "a ratings file (MovieLens style: ratings, optional movies and tags)",
    "movielens-100k": "MovieLens 100k (u.data, u.item, u.user)",
    "amazon-reviews": "Amazon reviews (one review per row)",
    "transactions": "a transaction log (one purchase line per row)",
}


def layout_name(layout: str) -> str:
    """How a detected layout reads to an analyst ("movielens" -> "a ratings file (MovieLens style: ...)")."""
    return LAYOUT_NAMES.get(layout, layout)


@dataclass(frozen=True)
class LoadResult:
    """The outcome of a load: the Dataset (None when the report has errors), the report, mapping and layout."""

    dataset: Dataset | None  # None when report has errors
    report: ValidationReport
    mapping: dict[str, dict[str, str]]  # table -> {role: source column} actually used
    layout: str  # detected source_format
    skipped: tuple[str, ...] = ()  # files given but not read by this layout (a README, MovieLens links.csv)

    def raise_for_errors(self) -> Dataset:
        """The dataset, or DataValidationError carrying the report when there are errors."""
        if self.dataset is None:
            raise DataValidationError(self.report)
        return self.dataset


def _check_options(mapping: Mapping[str, str] | None, delimiter: str | None) -> dict[str, str]:
    if mapping is not None and not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a mapping of role -> column, got {type(mapping).__name__}")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ValueError(f"delimiter must be a single character, got {delimiter!r}")
    return {str(k): str(v) for k, v in (mapping or {}).items()}


def _load(sources: list, *, name: str, generic: str, mapping: dict[str, str], encoding: str | None,
          delimiter: str | None, max_file_mb: float | None) -> LoadResult:  # fmt: skip
    bundle = import_sources(
        sources,
        name=name,
        generic_layout=generic,
        explicit=mapping,
        encoding=encoding,
        delimiter=delimiter,
        max_bytes=resolve_max_bytes(max_file_mb),
        strict=generic == "upload",  # the analyst chose every uploaded file: none may be left unread
    )
    dataset, report, used = build_dataset(bundle, mapping)
    if not report.ok:
        log.info("%s: %d error(s), %d warning(s)", name, len(report.errors), len(report.warnings))
    return LoadResult(dataset=dataset, report=report, mapping=used, layout=bundle.layout, skipped=tuple(bundle.skipped))


def load_path(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    *,
    encoding: str | None = None,
    max_file_mb: float | None = None,
    delimiter: str | None = None,
) -> LoadResult:
    """Load a dataset folder or a single data file into a validated Dataset plus its full report."""
    explicit = _check_options(mapping, delimiter)
    path = Path(path)
    name = path.name if path.is_dir() else _DATA_SUFFIX.sub("", path.name) or path.name
    if not path.exists():
        issue = ValidationIssue("error", str(path), None, "path_not_found", "The path does not exist.")
        return LoadResult(None, ValidationReport((issue,)), {}, "folder")
    return _load(sources_from_path(path), name=name, generic="folder", mapping=explicit, encoding=encoding,
                 delimiter=delimiter, max_file_mb=max_file_mb)  # fmt: skip


_GENERIC_STEMS = frozenset({s for stems in TABLE_STEMS.values() for s in stems} | {"ratings", "data", "u"})


EXPORT_NAMES = {"movielens": "MovieLens", "movielens-100k": "MovieLens 100k"}  # layouts whose file names say only the table


def default_upload_name(file_names: list[str], today: dt.date | None = None, layout: str | None = None) -> str:
    """A single file's name without its extension, unless it only names a table ("events"); else "upload <date>",
    after the export's name where the layout is one (a MovieLens upload of ratings.csv and movies.csv: "MovieLens
    upload <date>")."""
    if len(file_names) == 1:
        stem = _DATA_SUFFIX.sub("", Path(file_names[0]).name)
        if stem and stem.lower() not in _GENERIC_STEMS:
            return stem
    dated = f"upload {today or dt.date.today():%Y-%m-%d}"
    return f"{EXPORT_NAMES[layout]} {dated}" if layout in EXPORT_NAMES else dated


def load_uploads(
    files: Mapping[str, bytes],
    mapping: Mapping[str, str] | None = None,
    *,
    encoding: str | None = None,
    max_file_mb: float | None = None,
    delimiter: str | None = None,
    name: str | None = None,
) -> LoadResult:
    """Load uploaded files (file name -> bytes) into a validated Dataset plus its full report."""
    explicit = _check_options(mapping, delimiter)
    if not isinstance(files, Mapping):
        raise TypeError("files must map file names to bytes")
    sources = sources_from_uploads(files)
    if name is None:
        name = default_upload_name([s.name for s in sources if is_data_file(s)] or [s.name for s in sources],
                                   layout=detect_layout(sources))
    return _load(sources, name=name or "upload", generic="upload", mapping=explicit, encoding=encoding,
                 delimiter=delimiter, max_file_mb=max_file_mb)  # fmt: skip
