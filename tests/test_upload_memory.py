"""Memory stays bounded when an analyst uploads large files again and again (issue #6).

Every st.cache_data / st.cache_resource in uvp_ui.state has an entry limit; the upload cache also
has a byte limit and a time-to-live. The Data page keeps no upload bytes or validation results in
session state: they live only in the bounded validation cache, so a new upload replaces the old one.
The multi-file uploader keeps every drop of a file: re-uploading events.csv releases the older copies.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.caching import get_data_cache_stats_provider
from streamlit.runtime.caching.cache_utils import CachedFunc
from streamlit.testing.v1 import AppTest

from uvp_ui import state

REPO = Path(__file__).resolve().parents[1]
UPLOADS = 10
CACHE_NAME = "uvp_ui.state.validate_uploads"


def _cached_functions() -> dict[str, CachedFunc]:
    """Every st.cache_data / st.cache_resource function defined in uvp_ui.state."""
    return {name: value for name, value in vars(state).items() if isinstance(value, CachedFunc)}


def _events_csv(seed: int, rows: int = 60_000) -> bytes:
    """An events CSV of a few MB; each seed gives different bytes (a re-exported, changed file)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 5_000, rows)
    items = rng.integers(0, 2_000, rows)
    times = 1_704_067_200 + np.sort(rng.integers(0, 120 * 86_400, rows))
    ratings = rng.integers(1, 6, rows)
    body = "\n".join(
        f"u{u:05d},i{i:05d},{t},{r}" for u, i, t, r in zip(users, items, times, ratings, strict=True)
    )
    return ("user_id,item_id,timestamp,rating\n" + body + "\n").encode()


def _cached_bytes(name: str = CACHE_NAME) -> int:
    """Bytes Streamlit's data caches hold for one function (pickled entries, as Streamlit counts them)."""
    stats = get_data_cache_stats_provider().get_stats()
    return sum(s.byte_length for family in stats.values() for s in family if s.cache_name == name)


def test_every_app_state_cache_is_bounded() -> None:
    cached = _cached_functions()
    assert {"validate_uploads", "load_dataset", "load_model", "dataset_summaries"} <= set(cached), sorted(
        cached
    )
    unbounded = [name for name, func in cached.items() if func._info.max_entries is None]
    assert not unbounded, f"caches without max_entries: {unbounded}"
    for name in ("validate_uploads", "load_dataset"):  # the ones that hold whole uploaded or stored tables
        info = cached[name]._info
        assert info.max_size_bytes is not None and info.ttl is not None, name
    assert cached["validate_uploads"]._info.max_entries == state.UPLOADS_CACHE_ENTRIES


def test_validation_cache_keeps_at_most_max_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten different few-MB uploads: only the newest max_entries results stay cached, the older ones are recomputed."""
    limit = state.UPLOADS_CACHE_ENTRIES
    assert limit < UPLOADS
    calls: list[int] = []
    real = state.load_uploads
    monkeypatch.setattr(
        state, "load_uploads", lambda files, mapping, encoding=None: (calls.append(1), real(files, mapping, encoding=encoding))[1]
    )
    state.validate_uploads.clear()
    files = [{"events.csv": _events_csv(seed)} for seed in range(UPLOADS)]
    try:
        for upload in files:
            assert state.validate_uploads(upload, {}).report.ok
        assert len(calls) == UPLOADS
        entry = len(pickle.dumps(state.validate_uploads(files[-1], {}), protocol=pickle.HIGHEST_PROTOCOL))
        assert len(calls) == UPLOADS  # the newest upload is served from the cache
        held = _cached_bytes()
        assert 0 < held <= limit * entry * 1.1, (held, entry, limit)
        for upload in reversed(files):  # newest first: the first `limit` hit, the evicted ones are recomputed
            state.validate_uploads(upload, {})
        hits = UPLOADS - (len(calls) - UPLOADS)  # re-reads that did not recompute
        assert hits <= limit, f"{hits} of {UPLOADS} older uploads were still cached (max_entries={limit})"
    finally:
        state.validate_uploads.clear()


def test_data_page_repeated_uploads_replace_not_accumulate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Data page, uploading a changed few-MB events file ten times: bounded cache, nothing in session state."""
    monkeypatch.setenv("UVP_WORKSPACE", str(tmp_path / "ws"))
    state.validate_uploads.clear()
    limit = state.UPLOADS_CACHE_ENTRIES
    at = AppTest.from_file(str(REPO / "pages" / "1_Data.py"), default_timeout=120).run()
    at.radio(key=state.DATA_SOURCE).set_value("Upload files").run()
    sizes = []
    try:
        for seed in range(UPLOADS):
            data = _events_csv(100 + seed)
            sizes.append(len(data))
            at.file_uploader(key="uvp.uploader").set_value(("events.csv", data, "text/csv")).run()
            assert not at.exception, at.exception
            assert any(s.value.startswith("Valid") for s in at.success)
            if seed == 0:
                first_entry = _cached_bytes()
        held = _cached_bytes()
        assert 0 < first_entry and held <= limit * first_entry * 1.2, (held, first_entry, limit)
        session = at.session_state.to_dict()
        big = {k: len(pickle.dumps(v)) for k, v in session.items() if k != "uvp.uploader"}
        assert sum(big.values()) < 64_000, big  # ids and widget values only: no bytes, frames or reports
        assert not [k for k, v in session.items() if k != "uvp.uploader" and isinstance(v, bytes | bytearray)]
    finally:
        state.validate_uploads.clear()


def _uploader_script() -> None:
    """A one-uploader app: what latest_uploads returns and what Streamlit's upload storage still holds."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from uvp_ui import state

    uploads = st.file_uploader("Files", accept_multiple_files=True, key="files")
    if uploads:
        files, replaced = state.latest_uploads(uploads)
        ctx = get_script_run_ctx()
        held = ctx.uploaded_file_mgr.get_files(ctx.session_id, [u.file_id for u in uploads])
        st.text(f"uploads={len(uploads)} held={len(held)} names={sorted(files)} replaced={replaced}")
        st.text(files["events.csv"].decode())


def test_reuploaded_file_replaces_the_older_copy() -> None:
    """The multi-file uploader keeps every drop: older copies of a re-uploaded name are released, the newest is used."""
    at = AppTest.from_function(_uploader_script, default_timeout=60).run()
    at.file_uploader(key="files").set_value(
        [
            ("events.csv", b"v1", "text/csv"),
            ("items.csv", b"items", "text/csv"),
            ("events.csv", b"v2", "text/csv"),
        ]
    ).run()
    assert not at.exception, at.exception
    assert at.text[0].value == "uploads=3 held=2 names=['events.csv', 'items.csv'] replaced=['events.csv']"
    assert at.text[1].value == "v2"


def test_data_page_uses_the_latest_of_a_reuploaded_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UVP_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(REPO / "pages" / "1_Data.py"), default_timeout=120).run()
    at.radio(key=state.DATA_SOURCE).set_value("Upload files").run()
    broken = b"user_id,item_id\nu1,i1\n"  # no timestamp, no label: invalid
    at.file_uploader(key="uvp.uploader").set_value(
        [("events.csv", broken, "text/csv"), ("events.csv", _events_csv(7, rows=200), "text/csv")]
    ).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Valid") for s in at.success)
    assert any("uploaded more than once" in w.value for w in at.warning)
    assert "events.csv" in [t.value for t in at.text]
