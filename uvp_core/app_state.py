"""The one place for Streamlit caching and session-state keys (the only uvp_core module that imports Streamlit).

Caches are keyed on the workspace root and content fingerprints (dataset ids are fingerprints),
never on upload objects, and every cache is bounded. Cached values are treated as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from uvp_core import summary
from uvp_core.data import LoadResult, load_path, load_uploads
from uvp_core.data.contract import Dataset
from uvp_core.workspace import Workspace, default_root

# --- session-state keys (per browser session) --------------------------------------------------
ACTIVE_DATASET = "uvp.active_dataset_id"
DATA_SOURCE = "uvp.data_source"
UPLOAD_MAPPING = "uvp.upload_mapping_text"
LAST_SAVED = "uvp.last_saved_dataset_id"

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"


def workspace() -> Workspace:
    """The workspace for this process ($UVP_WORKSPACE or ./workspace)."""
    return _workspace(str(default_root().resolve()))


@st.cache_resource(max_entries=4, show_spinner=False)
def _workspace(root: str) -> Workspace:
    """One opened (and cleaned) Workspace per root folder."""
    return Workspace(root)


@st.cache_resource(max_entries=4, show_spinner="Loading the bundled sample dataset…")
def _sample_dataset_id(root: str) -> str:
    """Store the bundled sample in the workspace once and return its id."""
    result = load_path(SAMPLE_DIR)
    if result.dataset is None:
        raise RuntimeError("The bundled sample data failed validation:\n" + result.report.format_text())
    return _workspace(root).save_dataset(result.dataset).id


def sample_dataset_id() -> str:
    """The id of the bundled sample dataset, stored on first use."""
    return _sample_dataset_id(str(default_root().resolve()))


@st.cache_data(max_entries=4, show_spinner="Reading dataset…")
def load_dataset(root: str, dataset_id: str) -> Dataset:
    """A stored dataset (ids are content fingerprints, so the cache can never go stale)."""
    return _workspace(root).load_dataset(dataset_id)


def active_dataset() -> Dataset | None:
    """The dataset this session is working on, if any."""
    dataset_id = st.session_state.get(ACTIVE_DATASET)
    if not dataset_id:
        return None
    return load_dataset(str(default_root().resolve()), dataset_id)


def set_active_dataset(dataset_id: str) -> None:
    """Make a stored dataset the one this session works on."""
    st.session_state[ACTIVE_DATASET] = dataset_id


@st.cache_data(max_entries=4, show_spinner="Validating…")
def validate_uploads(files: Mapping[str, bytes], mapping: Mapping[str, str]) -> LoadResult:
    """Validate uploaded files (cached on their bytes and the mapping)."""
    return load_uploads(dict(files), dict(mapping) or None)


@st.cache_data(max_entries=8, show_spinner=False)
def dataset_summaries(root: str, dataset_id: str) -> dict[str, object]:
    """All Data-page summaries of one stored dataset, computed once."""
    dataset = load_dataset(root, dataset_id)
    events = dataset.events
    return {
        "overview": summary.overview(dataset),
        "over_time": summary.events_over_time(events),
        "labels": {role: summary.label_distribution(events, role) for role in dataset.label_roles},
        "popularity": summary.item_popularity(events),
        "history": summary.history_length_distribution(events),
    }


# --- models ------------------------------------------------------------------------------------
ACTIVE_MODEL = "uvp.active_model_id"


def session_owner() -> str:
    """An id for this browser session (recorded on the runs it starts)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "script"


@st.cache_resource(max_entries=2, show_spinner="Loading model…")
def load_model(root: str, model_id: str):
    """A registered model, loaded with all checks (read-only; shared by sessions)."""
    from uvp_core.model import load_model as load

    return load(_workspace(root).model_dir(model_id))


def active_model():
    """The model this session works with, if one is chosen."""
    model_id = st.session_state.get(ACTIVE_MODEL)
    if not model_id:
        return None
    return load_model(str(default_root().resolve()), model_id)


# --- explanations (issue #5: Explain a user, What-if) -------------------------------------------
# Appended section. Cached on the workspace root, the model id and the dataset id (a content
# fingerprint); cached explanations and tables are read-only.
EXPLAIN_USER = "uvp.explain_user"
EXPLAIN_ITEM = "uvp.explain_item"
WHATIF_EDITS = "uvp.whatif_edits"  # the edits the What-if page has applied, in order


def explain_model_picker(ws: Workspace) -> str | None:
    """The model to explain (default: the session's active model); None when the registry is empty."""
    models = ws.list_models()
    if not models:
        st.info("No models in the registry yet: train or load one on the Model page.")
        return None
    labels = {m.id: f"{m.name} · {m.target} · {m.id}" for m in models}
    ids = list(labels)
    active = st.session_state.get(ACTIVE_MODEL)
    model_id = st.selectbox("Model", ids, index=ids.index(active) if active in ids else 0, format_func=labels.get, key="uvp.explain_model")
    st.session_state[ACTIVE_MODEL] = model_id
    if st.session_state.get(ACTIVE_DATASET) is None:
        set_active_dataset(sample_dataset_id())
    return model_id


@st.cache_resource(max_entries=4, show_spinner=False)
def explain_background(root: str, model_id: str, dataset_id: str):
    """The masking background (most common / median values) of a dataset for a model."""
    from uvp_core.explain import background_for

    return background_for(load_model(root, model_id), load_dataset(root, dataset_id))


@st.cache_data(max_entries=4, show_spinner=False)
def explain_user_table(root: str, dataset_id: str):
    """Users with event counts, attributes and new/active segment (for search and cohorts)."""
    from uvp_core.explain import whatif

    return whatif.user_table(load_dataset(root, dataset_id))


@st.cache_resource(max_entries=64, show_spinner="Explaining…")
def pair_explanation(root: str, model_id: str, dataset_id: str, user_id: str, item_id: str):
    """The SHAP explanation of one (user, item) prediction."""
    from uvp_core.explain import explain_pair

    model, dataset = load_model(root, model_id), load_dataset(root, dataset_id)
    return explain_pair(model, dataset, user_id, item_id, background=explain_background(root, model_id, dataset_id))


@st.cache_data(max_entries=32, show_spinner="Ranking items…")
def top_items(root: str, model_id: str, dataset_id: str, user_id: str, k: int):
    """The model's top-k unseen items for a user."""
    return load_model(root, model_id).recommend(load_dataset(root, dataset_id), user_id, k)
