"""Column-to-role mapping: synonym detection, `--map` parsing, and explicit mapping resolution.

Source column names are matched to canonical roles case-insensitively, ignoring `_`, `-`, `.` and
spaces (`Customer ID` == `customer_id` == `customerid`). For each role the synonyms are tried in
order and the first column present wins; a column is used for at most one role.

An explicit mapping has keys `role` or `table.role`. A bare `role` applies to every table that has
that role (`user_id`/`item_id` apply to events and to users/items); it is an error only when the
column is in none of those tables (a table lacking the column falls back to detection). A
`table.role` key must name a column of that table's file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from uvp_core.data.contract import EVENT_ROLES, ITEM_ROLES, TABLES, USER_ROLES, ValidationIssue

TABLE_ROLES: dict[str, tuple[str, ...]] = {"events": EVENT_ROLES, "items": ITEM_ROLES, "users": USER_ROLES}
ALL_ROLES: tuple[str, ...] = tuple(dict.fromkeys(EVENT_ROLES + ITEM_ROLES + USER_ROLES))

_USER_ID = (
    "userid", "user", "uid", "reviewerid", "customerid", "customer", "customerno", "customernumber",
    "clientid", "visitorid", "memberid", "accountid", "buyerid", "raterid",
)  # fmt: skip
_ITEM_ID = (
    "itemid", "item", "iid", "movieid", "asin", "stockcode", "productid", "product", "productcode", "sku",
    "articleid", "bookid", "isbn", "trackid", "songid", "contentid", "videoid", "offerid",
)  # fmt: skip

# Synonyms per table and role, already normalised (see normalize_name), in priority order.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "events": {
        "user_id": _USER_ID,
        "item_id": _ITEM_ID,
        "timestamp": (
            "timestamp", "eventtime", "eventtimestamp", "datetime", "unixreviewtime", "invoicedate", "ts",
            "unixtime", "createdat", "eventdate", "orderdate", "ratingtimestamp", "date", "time",
        ),
        "rating": ("rating", "ratings", "overall", "stars", "star", "score", "starrating", "userrating", "value"),
        "event_type": ("eventtype", "event", "action", "interaction", "interactiontype", "behavior", "behaviour"),
        "label": ("label", "target", "clicked", "purchased", "converted", "outcome"),
        "revenue": ("revenue", "amount", "sales", "totalprice", "spend", "gmv"),
        "quantity": ("quantity", "qty", "units", "numunits"),
        "review_text": ("reviewtext", "review", "reviewbody", "text", "comment", "body"),
    },
    "items": {
        "item_id": _ITEM_ID,
        "title": ("title", "name", "productname", "itemname", "movietitle", "booktitle", "producttitle"),
        "description": ("description", "desc", "productdescription", "overview", "plot"),
        "category": ("category", "categories", "genre", "genres", "categoryname", "department", "productcategory"),
        "price": ("price", "unitprice", "listprice", "saleprice", "itemprice"),
    },
    "users": {"user_id": _USER_ID},
}  # fmt: skip

# Extra roles used only by the transactions importer.
TRANSACTION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "invoice": (
        "invoiceno", "invoice", "invoiceid", "invoicenumber", "orderid", "orderno", "ordernumber",
        "transactionid", "receiptid", "basketid",
    ),
    "price": ("unitprice", "price", "itemprice", "saleprice"),
    "title": ("description", "productname", "title", "name", "itemname", "productdescription"),
    "country": ("country", "customercountry"),
}  # fmt: skip

_NORMALIZE = re.compile(r"[\s_\-.]+")
_KEY = re.compile(r"^(?:([A-Za-z]+)\.)?([A-Za-z_]+)$")


def normalize_name(name: str) -> str:
    """A column name lower-cased without spaces, `_`, `-` and `.`, for synonym matching."""
    return _NORMALIZE.sub("", str(name)).lower()


def _lookup(columns: Sequence[str], used: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for column in columns:
        if column not in used:
            found.setdefault(normalize_name(column), column)
    return found


def detect_mapping(table: str, columns: Sequence[str]) -> dict[str, str]:
    """Role -> column for `table` ('events', 'items', 'users') found by synonyms."""
    return detect_roles(table, columns)


def detect_roles(
    table: str, columns: Sequence[str], *, skip_roles: Sequence[str] = (), skip_columns: Sequence[str] = ()
) -> dict[str, str]:
    """Like detect_mapping, leaving out roles and columns already claimed by an explicit mapping."""
    if table not in SYNONYMS:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    used = set(skip_columns)
    result: dict[str, str] = {}
    for role, synonyms in SYNONYMS[table].items():
        if role in skip_roles:
            continue
        lookup = _lookup(columns, used)
        for synonym in synonyms:
            column = lookup.get(synonym)
            if column is not None:
                result[role] = column
                used.add(column)
                break
    if table == "items" and "title" not in result and "title" not in skip_roles and "description" in result:
        result["title"] = result.pop("description")  # a lone Description names the item
    return result


def _transaction_roles() -> dict[str, tuple[str, ...]]:
    """Role -> the column names (normalised) a transaction log's role is recognised by, in priority order."""
    return {"user_id": _USER_ID, "item_id": _ITEM_ID, "timestamp": SYNONYMS["events"]["timestamp"],
            "quantity": SYNONYMS["events"]["quantity"], **TRANSACTION_SYNONYMS}  # fmt: skip


def transaction_synonyms(role: str) -> tuple[str, ...]:
    """The names a transaction log's role is recognised by, retail ones first (customerid before userid): for messages."""
    names = _transaction_roles().get(role, ())
    retail = tuple(n for n in names if n.startswith(("customer", "stock", "product", "invoice")))
    return (*retail, *(n for n in names if n not in retail))


def detect_transaction_roles(columns: Sequence[str], explicit: Mapping[str, str]) -> dict[str, str]:
    """Role -> column for a transaction log: user_id, item_id, timestamp, quantity, price, invoice, title, country."""
    used = set(explicit.values())
    result = dict(explicit)
    wanted = _transaction_roles()
    for role, synonyms in wanted.items():
        if role in result:
            continue
        lookup = _lookup(columns, used)
        for synonym in synonyms:
            if synonym in lookup:
                result[role] = lookup[synonym]
                used.add(lookup[synonym])
                break
    return result


def parse_map_args(pairs: Sequence[str]) -> dict[str, str]:
    """Parse `role=column` / `table.role=column` strings (as `--map` gives) into a mapping dict."""
    if isinstance(pairs, str):
        raise ValueError(f"expected a list of role=column strings, got the single string {pairs!r}")
    out: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, str) or "=" not in pair:
            raise ValueError(f"bad mapping {pair!r}: expected role=column or table.role=column")
        key, column = (part.strip() for part in pair.split("=", 1))
        if not key or not column or not _KEY.match(key):
            raise ValueError(f"bad mapping {pair!r}: expected role=column or table.role=column")
        if key in out and out[key] != column:
            raise ValueError(f"bad mapping {pair!r}: {key!r} is already mapped to {out[key]!r}")
        out[key] = column
    return out


@dataclass(frozen=True)
class TableColumns:
    """The columns of one table's file, for resolving a mapping."""

    file: str
    columns: tuple[str, ...]


def _find_column(column: str, columns: Sequence[str]) -> str | None:
    if column in columns:
        return column
    folded = [c for c in columns if c.lower() == column.lower()]
    return folded[0] if len(folded) == 1 else None


def _mapping_error(rule: str, file: str, column: str | None, message: str) -> ValidationIssue:
    return ValidationIssue(severity="error", file=file, column=column, rule=rule, message=message)


def split_explicit(
    mapping: Mapping[str, str], tables: Mapping[str, TableColumns], *, mapping_file: str = "mapping"
) -> tuple[dict[str, dict[str, str]], list[ValidationIssue]]:
    """Check an explicit mapping against the tables' columns: (table -> {role: column}, issues)."""
    per_table: dict[str, dict[str, str]] = {t: {} for t in tables}
    issues: list[ValidationIssue] = []
    for key, column in mapping.items():
        match = _KEY.match(str(key).strip())
        table, role = (match.group(1), match.group(2)) if match else (None, str(key))
        text = f"{key}={column}"
        if table is not None and table not in TABLES:
            issues.append(
                _mapping_error(
                    "unknown_mapping_role",
                    mapping_file,
                    column,
                    f"Mapping {text!r}: {table!r} is not a table (use events, items or users).",
                )
            )
            continue
        targets = [table] if table else [t for t in TABLES if role in TABLE_ROLES[t]]
        if not targets or role not in TABLE_ROLES[targets[0]]:
            known = ", ".join(TABLE_ROLES[table] if table else ALL_ROLES)
            issues.append(
                _mapping_error(
                    "unknown_mapping_role",
                    mapping_file,
                    column,
                    f"Mapping {text!r}: {role!r} is not a role{' of ' + table if table else ''}; known roles: {known}.",
                )
            )
            continue
        present = [t for t in targets if t in tables]
        found = False
        for t in present:
            actual = _find_column(column, tables[t].columns)
            if actual is not None:
                per_table[t][role] = actual
                found = True
        if not found:
            if present:
                where = " or ".join(tables[t].file for t in present)
                listing = "; ".join(f"{tables[t].file}: {', '.join(tables[t].columns)}" for t in present)
                file = tables[present[0]].file
                message = f"Mapping {text!r}: column {column!r} is not in {where} (columns are {listing})."
            else:
                file = mapping_file
                message = f"Mapping {text!r}: there is no {' or '.join(targets)} table to take role {role!r}."
            issues.append(_mapping_error("unknown_mapping_column", file, column, message))
    return per_table, issues


def resolve_table(table: str, columns: Sequence[str], explicit: Mapping[str, str]) -> dict[str, str]:
    """Final role -> column for one table: the explicit entries, then detection for the other roles."""
    detected = detect_roles(table, columns, skip_roles=list(explicit), skip_columns=list(explicit.values()))
    merged = {**detected, **explicit}
    return {role: merged[role] for role in TABLE_ROLES[table] if role in merged}
