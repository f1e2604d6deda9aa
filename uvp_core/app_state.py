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
SEEN_SUCCEEDED_RUNS = "uvp.seen_succeeded_runs"  # runs whose model the Model page has already drawn


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


# --- diagnostics (issue #4: Segments, Cold start & long tail) -----------------------------------
# Appended section: evaluation choices and cached scoring. Everything below is keyed on the workspace
# root, the model id, the dataset id (a content fingerprint) and the test set's content hash.
import hashlib  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pandas as pd  # noqa: E402

EVAL_MODEL = "uvp.eval_model_id"
EVAL_SOURCE = "uvp.eval_source"
EVAL_UPLOAD = "uvp.eval_upload"
HOLDOUT = "holdout"  # the test_hash of the default evaluation set: a time holdout of the active dataset
EVAL_SOURCES = ("Holdout: the last 10% of label events by time", "Upload a test CSV")


@dataclass(frozen=True)
class EvaluationChoice:
    """Which model is evaluated on which evaluation set."""

    model_id: str
    dataset_id: str
    test_hash: str  # HOLDOUT, or the sha256 prefix of the uploaded test file's bytes
    test_bytes: bytes | None = None
    test_name: str = "holdout"


@dataclass(frozen=True)
class PageEvaluation:
    """A scored evaluation set ready for the diagnostics (read-only: shared by sessions)."""

    frame: pd.DataFrame  # diagnostics.frame.evaluation_frame
    evalset: object  # diagnostics.evaluation_set.EvaluationSet
    model: object  # diagnostics.report.ModelInfo

    @property
    def task(self) -> str:
        """'regression' or 'binary'."""
        return self.model.task


def evaluation_picker(ws: Workspace) -> EvaluationChoice | None:
    """Model (default: the session's active model) and evaluation set widgets; None until both are chosen."""
    models = ws.list_models()
    if not models:
        st.info("No models in the registry yet: train or load one on the Model page.")
        return None
    labels = {m.id: f"{m.name} · {m.target} · {m.created_at} · {m.id}" for m in models}
    ids = list(labels)
    if st.session_state.get(EVAL_MODEL) not in ids:
        active = st.session_state.get(ACTIVE_MODEL)
        st.session_state[EVAL_MODEL] = active if active in ids else ids[0]
    model_id = st.selectbox("Model", ids, format_func=labels.get, key=EVAL_MODEL)
    if st.session_state.get(ACTIVE_DATASET) is None:
        set_active_dataset(sample_dataset_id())
    dataset_id = st.session_state[ACTIVE_DATASET]
    source = st.radio("Evaluation set", EVAL_SOURCES, horizontal=True, key=EVAL_SOURCE)
    if source == EVAL_SOURCES[1]:
        upload = st.file_uploader("Test CSV: user_id, item_id, [timestamp] and the label column", type=["csv"], key=EVAL_UPLOAD)
        if upload is None:
            st.info("Upload a test CSV, or choose the holdout.")
            return None
        data = upload.getvalue()
        return EvaluationChoice(model_id, dataset_id, hashlib.sha256(data).hexdigest()[:16], data, upload.name)
    return EvaluationChoice(model_id, dataset_id, HOLDOUT)


@st.cache_resource(max_entries=4, show_spinner="Scoring the evaluation set…")
def scored_pairs(root: str, model_id: str, dataset_id: str, test_hash: str, _test_bytes: bytes | None = None,
                 _test_name: str = "test.csv") -> PageEvaluation:  # fmt: skip
    """The evaluation frame of a model on a holdout (test_hash HOLDOUT) or an uploaded test set."""
    from uvp_core.diagnostics import evaluation_set, frame, scoring
    from uvp_core.diagnostics.report import ModelInfo

    model = load_model(root, model_id)
    dataset = load_dataset(root, dataset_id)
    if test_hash == HOLDOUT:
        evalset = evaluation_set.holdout(dataset, model.target)
    else:
        evalset = evaluation_set.read_test_set(_test_bytes or b"", dataset, model.target, name=_test_name)
    scored = scoring.score_pairs(model, dataset, evalset)
    record = _workspace(root).get_model_record(model_id)
    return PageEvaluation(
        frame=frame.evaluation_frame(scored, dataset, evalset),
        evalset=evalset,
        model=ModelInfo(name=record.name, target=model.target, task=model.task, id=model_id),
    )


def evaluation(choice: EvaluationChoice) -> PageEvaluation:
    """The cached evaluation frame for a choice of model and evaluation set."""
    root = str(default_root().resolve())
    return scored_pairs(root, choice.model_id, choice.dataset_id, choice.test_hash, choice.test_bytes, choice.test_name)


@st.cache_resource(max_entries=4, show_spinner="Scoring top-K candidates…")
def scored_candidates(root: str, model_id: str, dataset_id: str, test_hash: str, mode: str, negatives: int, max_users: int,
                      _test_bytes: bytes | None = None, _test_name: str = "test.csv") -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """Top-K candidate sets of the evaluation users, scored by the model, and their description."""
    from uvp_core.diagnostics import ranking, scoring
    from uvp_core.diagnostics.report import EvalConfig

    page = scored_pairs(root, model_id, dataset_id, test_hash, _test_bytes, _test_name)
    dataset = load_dataset(root, dataset_id)
    config = EvalConfig(candidates=ranking.CandidateConfig(mode=mode, negatives=negatives, max_users=max_users))
    candidates, info = scoring.build_candidates(dataset, page.evalset, config)
    return scoring.score_candidates(load_model(root, model_id), dataset, candidates), info


def candidates(choice: EvaluationChoice, mode: str = "auto", negatives: int = 100, max_users: int = 200) -> tuple[pd.DataFrame, dict]:
    """The cached scored candidates for a choice of model and evaluation set."""
    root = str(default_root().resolve())
    return scored_candidates(root, choice.model_id, choice.dataset_id, choice.test_hash, mode, negatives, max_users,
                             choice.test_bytes, choice.test_name)  # fmt: skip


VIEW_MEMO = "uvp.view_memo"
VIEW_MEMO_ENTRIES = 48


def memo(choice: EvaluationChoice, view: str, params: tuple, compute):
    """A per-session memo of one diagnostic view (small tables), keyed by the evaluation and the view's inputs.

    Widget changes rerun the whole page; the views whose inputs did not change are not recomputed.
    """
    store = st.session_state.setdefault(VIEW_MEMO, {})
    key = (choice.model_id, choice.dataset_id, choice.test_hash, view, params)
    if key not in store:
        if len(store) >= VIEW_MEMO_ENTRIES:
            store.pop(next(iter(store)))
        store[key] = compute()
    return store[key]


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


# --- page set-up shared by the diagnostics pages and by the explanation pages -------------------


def evaluation_or_stop(ws: Workspace) -> tuple[EvaluationChoice, PageEvaluation]:
    """The picked model and evaluation set, scored; stops the page with a message when there is none."""
    choice = evaluation_picker(ws)
    if choice is None:
        st.stop()
    try:
        return choice, evaluation(choice)
    except (ValueError, KeyError) as exc:
        st.error("This model cannot be evaluated on this evaluation set:")
        st.text(str(exc))
        st.stop()


@dataclass(frozen=True)
class ExplainContext:
    """What the explanation pages work on: the picked model, the active dataset and its users."""

    root: str
    model_id: str
    dataset_id: str
    model: object
    dataset: Dataset
    users: pd.DataFrame


def explain_context_or_stop(ws: Workspace) -> ExplainContext:
    """The picked model with the active dataset; stops the page when no model can be picked."""
    root = str(ws.root.resolve())
    model_id = explain_model_picker(ws)
    if model_id is None:
        st.stop()
    dataset_id = st.session_state[ACTIVE_DATASET]
    return ExplainContext(
        root=root, model_id=model_id, dataset_id=dataset_id, model=load_model(root, model_id),
        dataset=load_dataset(root, dataset_id), users=explain_user_table(root, dataset_id),
    )
