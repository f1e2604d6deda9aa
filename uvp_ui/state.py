"""The one place for Streamlit caching and session-state keys (uvp_core never imports Streamlit; pages draw with uvp_ui.widgets).

Caches are keyed on the workspace root and content fingerprints (dataset ids are fingerprints),
never on upload objects, and every cache is bounded. Cached values are treated as read-only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from uvp_core import model_registry, summary
from uvp_core.data import LoadResult, load_path, load_uploads
from uvp_core.data.contract import Dataset
from uvp_core.text.markdown import plain_markdown
from uvp_core.workspace import Workspace, default_root

log = logging.getLogger(__name__)

# --- session-state keys (per browser session) --------------------------------------------------
ACTIVE_DATASET = "uvp.active_dataset_id"
DATA_SOURCE = "uvp.data_source"
UPLOAD_MAPPING = "uvp.upload_mapping_text"
JUST_SAVED = "uvp.just_saved_dataset_id"  # the upload this session saved last (its message says "Stored", not "already")

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


# The two caches that hold whole tables are bounded by count, by pickled size and by idle time.
TABLES_CACHE_MAX_SIZE = "1GiB"
UPLOADS_CACHE_MAX_SIZE = "512MiB"
UPLOADS_CACHE_ENTRIES = 4  # validation results kept: a few analysts' current uploads, not their history
TABLES_CACHE_TTL = "1h"


@st.cache_data(
    max_entries=4, max_size=TABLES_CACHE_MAX_SIZE, ttl=TABLES_CACHE_TTL, show_spinner="Reading dataset…"
)
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


def active_dataset_id() -> str:
    """The id of the dataset this session works on: the bundled sample until the analyst picks another."""
    if st.session_state.get(ACTIVE_DATASET) is None:
        set_active_dataset(sample_dataset_id())
    return st.session_state[ACTIVE_DATASET]


def active_is_sample() -> bool:
    """Whether this session works on the bundled sample (also when it has not chosen a dataset yet)."""
    active = st.session_state.get(ACTIVE_DATASET)
    return active is None or active == sample_dataset_id()


def model_labels(ws: Workspace, *, dated: bool = True) -> dict[str, str] | None:
    """Registry model id -> 'name · target · [created ·] id', and the data it was trained on when that is not the
    active dataset; None (with a note) when the registry is empty."""
    models = ws.list_models()
    if not models:
        st.info("No models in the registry yet: train or load one on the Model page.")
        return None
    active, names = active_dataset_id(), {d.id: d.name for d in ws.list_datasets()}
    return {m.id: model_registry.model_label(m, dated) + model_registry.other_data_note(m, active, names) for m in models}


@st.cache_data(
    max_entries=UPLOADS_CACHE_ENTRIES,
    max_size=UPLOADS_CACHE_MAX_SIZE,
    ttl=TABLES_CACHE_TTL,
    show_spinner="Validating…",
)
def validate_uploads(files: Mapping[str, bytes], mapping: Mapping[str, str], encoding: str | None = None) -> LoadResult:
    """Validate uploaded files (cached on their bytes, the mapping and the encoding; a new upload evicts the oldest result)."""
    return load_uploads(dict(files), dict(mapping) or None, encoding=encoding)


def latest_uploads(uploads: Sequence) -> tuple[dict[str, bytes], list[str]]:
    """The newest upload of each file name (name -> bytes) and the names uploaded more than once.

    A multi-file uploader keeps every drop, so re-uploading a changed events.csv would hold each copy
    in server memory for the rest of the session; the older copies are released here.
    """
    latest = {upload.name: upload for upload in uploads}  # later drops come later in the list
    older = [upload for upload in uploads if latest[upload.name] is not upload]
    _release_uploads(older)
    return {name: upload.getvalue() for name, upload in latest.items()}, sorted({u.name for u in older})


def _release_uploads(uploads: Sequence) -> None:
    """Drop uploaded files from Streamlit's per-session upload storage (a no-op outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    manager = getattr(ctx, "uploaded_file_mgr", None)
    if manager is None:
        return
    for upload in uploads:
        manager.remove_file(ctx.session_id, upload.file_id)


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
PRELOADED = "uvp.model_preloaded"  # this session has asked for its model to be loaded in the background


def session_owner() -> str:
    """An id for this browser session (recorded on the runs it starts)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "script"


@st.cache_resource(max_entries=1, show_spinner=False)
def start_warm_up() -> threading.Thread:
    """Once per server process: import the explanation code and compile shap's code in a background thread, so no
    first explanation waits for it. The import alone (shap, torch, transformers) takes seconds: done in the script
    thread, it held the first page blank while the sidebar still listed the pages/ folder (with an "app" entry)."""
    thread = threading.Thread(target=_warm_up, name="uvp-shap-warm-up", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    """The warm-up thread's work: import uvp_core.explain and run its warm_up."""
    from uvp_core.explain import warm_up

    warm_up()


@st.cache_resource(max_entries=2, show_spinner="Loading model…")
def load_model(root: str, model_id: str):
    """A registered model, loaded with all checks (read-only; shared by sessions); its warm-up starts in a thread."""
    from uvp_core.model import load_model as load

    model = load(_workspace(root).model_dir(model_id))
    # The encoder's kernels are set up in the background (~5 s on 2 cores), not in the first explanation: scoring the
    # training texts needs none (their embeddings are saved with the model; an encode of cached texts takes no lock).
    threading.Thread(target=_warm_model, args=(model,), name=f"uvp-warm-up-{model_id}", daemon=True).start()
    return model


def _warm_model(model) -> None:
    """A loaded model's warm-up (a background thread's work): a failure only costs the first explanation time."""
    try:
        model.warm_up()
    except Exception as exc:  # noqa: BLE001 - the page that encodes next meets and reports any real problem
        log.info("warming up a model failed: %s", exc)


class _BackgroundThreadsQuiet(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for this module's background threads (they draw nothing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for records from a uvp-… thread."""
        return not record.threadName.startswith("uvp-")


_context_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
if not any(isinstance(f, _BackgroundThreadsQuiet) for f in _context_log.filters):
    _context_log.addFilter(_BackgroundThreadsQuiet())

_preloading: set[tuple[str, str]] = set()  # (workspace root, model id) being loaded by preload_model's threads
_preload_lock = threading.Lock()


def preload_model(ws: Workspace, model_id: str | None) -> threading.Thread | None:
    """Load a model into load_model's cache in a background thread (checks and loading take ~2 s on 2 cores), so
    the page that needs it next finds it ready; a page asking meanwhile waits for this load instead of repeating it."""
    if not model_id:
        return None
    key = (str(ws.root.resolve()), model_id)
    with _preload_lock:
        if key in _preloading:
            return None
        _preloading.add(key)

    def run() -> None:
        try:
            load_model(*key)
        except Exception as exc:  # noqa: BLE001 - a page that needs the model reports the error itself
            log.info("preloading model %s failed: %s", model_id, exc)
        finally:
            with _preload_lock:
                _preloading.discard(key)

    thread = threading.Thread(target=run, name=f"uvp-preload-{model_id}", daemon=True)
    thread.start()
    return thread


def preload_session_model(ws: Workspace) -> None:
    """Once per browser session: preload the model its pickers will start on (the URL's, else the newest on its dataset)."""
    if st.session_state.get(PRELOADED):
        return
    st.session_state[PRELOADED] = True
    ids = [m.id for m in ws.list_models()]
    if ids:
        preload_model(ws, default_model_id(ws, ids))


MODEL_IMPORTED = "uvp.model_imported_message"  # what the last model-folder import did (shown once, after the rerun)
JUST_TRAINED = "uvp.just_trained_model_id"  # a model this session's own run has just added (the Model page says so once)
DATASET_SWITCHED = "uvp.dataset_switched"  # the name of the dataset that run trained on, made active with its model (said once)
REGISTRY_MODEL = "uvp.registry_model"  # the Model page's registry picker
REGISTRY_PENDING = "uvp.registry_pending"  # a model made active since the registry picker was drawn (set_registry_picker)
FINISHED_RUN = "uvp.finished_run"  # the Model page's picker of a finished run's curves
MODEL_DELETED = "uvp.model_deleted_message"  # which model the last delete removed (shown once, after the rerun)


def use_model(model_id: str) -> None:
    """Make a model the one every page of this session starts on (model pickers drop their previous choice)."""
    st.session_state[ACTIVE_MODEL] = model_id
    forget_widgets(EXPLAIN_MODEL, EVAL_MODEL)
    st.session_state[REGISTRY_PENDING] = model_id  # the Model page's own picker may be drawn already: set before the next draw


def use_trained_model(ws: Workspace, model_id: str, dataset_id: str | None) -> None:
    """Make this session's own newly trained model active, with the dataset it was trained on when that is another
    one: the pages then score it on its own data (they had scored a sample model on Online Retail's IDs)."""
    use_model(model_id)
    st.session_state[JUST_TRAINED] = model_id
    if not dataset_id or dataset_id == active_dataset_id():
        return
    record = next((d for d in ws.list_datasets() if d.id == dataset_id), None)  # None: deleted since the run started
    if record is not None:
        set_active_dataset(dataset_id)
        forget_widgets(DATA_SOURCE)  # the Data page starts from the new active dataset (its radio had re-set the old one)
        st.session_state[DATASET_SWITCHED] = record.name


def set_registry_picker(ws: Workspace, model_ids: Sequence[str]) -> None:
    """Point the registry picker, before it is drawn, at a model made active since, or at the default when it holds
    none of these. Forgetting its state was not enough: the browser kept showing the old choice (and sent it back
    on the next click) while the page computed the card for the new one."""
    pending = st.session_state.pop(REGISTRY_PENDING, None)
    if pending in model_ids:
        st.session_state[REGISTRY_MODEL] = pending
    elif st.session_state.get(REGISTRY_MODEL) not in model_ids:
        st.session_state[REGISTRY_MODEL] = default_model_id(ws, model_ids)


def active_model():
    """The model this session works with, if one is chosen."""
    model_id = st.session_state.get(ACTIVE_MODEL)
    if not model_id:
        return None
    return load_model(str(default_root().resolve()), model_id)


# --- diagnostics (issue #4: Segments, Cold start & long tail) -----------------------------------
# Appended section: evaluation choices and cached scoring. Everything below is keyed on the workspace
# root, the model id, the dataset id (a content fingerprint) and the test set's content hash.
EVAL_MODEL = "uvp.eval_model_id"
EVAL_SOURCE = "uvp.eval_source"
EVAL_UPLOAD = "uvp.eval_upload"
HOLDOUT = "holdout"  # test_hash of the default set: events the model did not train on (evaluation_set.model_holdout)
ALL_EVENTS = "all"  # test_hash of every label event of the active dataset
UPLOAD = "upload"  # the radio value for an uploaded test CSV (its test_hash is the file's content hash)
EVAL_SOURCES = (HOLDOUT, ALL_EVENTS, UPLOAD)


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


@st.cache_data(max_entries=8, show_spinner=False)
def model_trained_on(root: str, model_id: str, dataset_id: str) -> bool:
    """Whether a registered model was trained on exactly this stored dataset (same data fingerprint); reads only its
    uvp_model.json (loading the model here held a page blank, with no spinner, while a preload loaded it)."""
    from uvp_core.model.persistence import read_meta

    ws = _workspace(root)
    return read_meta(ws.model_dir(model_id)).get("data_fingerprint") == ws.get_dataset_record(dataset_id).fingerprint


def source_labels(trained_on: bool) -> dict[str, str]:
    """The evaluation-set radio's labels, which say whether each choice is held out from training."""
    return {
        HOLDOUT: "Held out: the model's validation period" if trained_on else "Time holdout: the latest 10% of events",
        ALL_EVENTS: "All label events (mostly in-sample: optimistic)" if trained_on else "All label events",
        UPLOAD: "Upload a test CSV",
    }


def evaluation_picker(ws: Workspace) -> EvaluationChoice | None:
    """Model (default: the session's active model) and evaluation set widgets; None until both are chosen."""
    labels = model_labels(ws)
    if labels is None:
        return None
    ids = list(labels)
    if st.session_state.get(EVAL_MODEL) not in ids:
        st.session_state[EVAL_MODEL] = default_model_id(ws, ids)
    model_id = st.selectbox("Model", ids, format_func=labels.get, key=EVAL_MODEL)
    dataset_id = active_dataset_id()
    trained_on = model_trained_on(str(ws.root.resolve()), model_id, dataset_id)
    warn_if_other_data(ws, model_id, dataset_id)
    source = st.radio("Evaluation set", EVAL_SOURCES, format_func=source_labels(trained_on).get, horizontal=True, key=EVAL_SOURCE,
                      help="By default the diagnostics score events the model did not train on.")  # fmt: skip
    if source == UPLOAD:
        upload = st.file_uploader("Test CSV: user_id, item_id, [timestamp] and the label column", type=["csv"], key=EVAL_UPLOAD)
        if upload is None:
            st.info("Upload a test CSV, or choose another evaluation set.")
            return None
        data = upload.getvalue()
        return EvaluationChoice(model_id, dataset_id, hashlib.sha256(data).hexdigest()[:16], data, upload.name)
    return EvaluationChoice(model_id, dataset_id, source)


def _evaluation_set(models: tuple, dataset: Dataset, test_hash: str, test_bytes: bytes | None, test_name: str):
    """The evaluation set of one model (or two, scored on the same pairs) for a test_hash."""
    from uvp_core.diagnostics import evaluation_set

    target = models[0].target
    if test_hash == HOLDOUT:
        if len(models) == 2:
            return evaluation_set.holdout_for_models(models[0], models[1], dataset)
        return evaluation_set.model_holdout(models[0], dataset)
    if test_hash == ALL_EVENTS:
        return evaluation_set.all_events_for(models, dataset)
    evalset = evaluation_set.read_test_set(test_bytes or b"", dataset, target, name=test_name)
    return evaluation_set.annotate_test_set(evalset, models[0], dataset)


@st.cache_resource(max_entries=4, show_spinner="Scoring the evaluation set…")
def scored_pairs(root: str, model_id: str, dataset_id: str, test_hash: str, _test_bytes: bytes | None = None,
                 _test_name: str = "test.csv") -> PageEvaluation:  # fmt: skip
    """The evaluation frame of a model on held-out events (HOLDOUT), all label events (ALL_EVENTS) or a test set."""
    from uvp_core.diagnostics import frame, scoring
    from uvp_core.diagnostics.report import ModelInfo

    model = load_model(root, model_id)
    dataset = load_dataset(root, dataset_id)
    evalset = _evaluation_set((model,), dataset, test_hash, _test_bytes, _test_name)
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


@dataclass(frozen=True)
class PageComparison:
    """Two models scored on the same pairs: model A's evaluation frame plus `prediction_b` (read-only)."""

    frame: pd.DataFrame
    evalset: object  # diagnostics.evaluation_set.EvaluationSet


@st.cache_resource(max_entries=2, show_spinner="Scoring both models…")
def scored_comparison(root: str, model_a: str, model_b: str, dataset_id: str, test_hash: str, _test_bytes: bytes | None = None,
                      _test_name: str = "test.csv") -> PageComparison:  # fmt: skip
    """Models A and B on one evaluation set (by default events neither trained on), paired row by row."""
    from uvp_core.diagnostics import scoring

    models = (load_model(root, model_a), load_model(root, model_b))
    dataset = load_dataset(root, dataset_id)
    evalset = _evaluation_set(models, dataset, test_hash, _test_bytes, _test_name)
    return PageComparison(frame=scoring.paired_evaluation(*models, dataset, evalset), evalset=evalset)


def comparison(choice: EvaluationChoice, other_id: str) -> PageComparison:
    """The cached paired evaluation of the chosen model (A) and another model (B)."""
    root = str(default_root().resolve())
    return scored_comparison(root, choice.model_id, other_id, choice.dataset_id, choice.test_hash, choice.test_bytes,
                             choice.test_name)  # fmt: skip


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
EXPLAIN_MODEL = "uvp.explain_model"  # the Explain and What-if pages' model picker
EXPLAIN_USER = "uvp.explain_user"
EXPLAIN_USER_DATASET = "uvp.explain_user_dataset"  # the dataset the Explain and What-if pages last listed users of
EXPLAIN_ITEM = "uvp.explain_item"
EXPLAIN_ITEM_USER = "uvp.explain_item_user"  # the user the Item to explain was picked for
EXPLAIN_BACKGROUND = "uvp.explain_background"  # what a masked attribute takes: "mode" | "population" | "absent"
EXPLAIN_ITEM_BACKGROUND = "uvp.explain_item_background"  # what a masked item field takes: "mode" | "absent"
EXPLAIN_HISTORY = "uvp.explain_history"  # a history feature: "item" (its events together) | "event"
TOKEN_REQUEST = "uvp.explain_token_request"  # (model, dataset, user, item, field) whose words were asked for
WHATIF_EDITS = "uvp.whatif_edits"  # the edits the What-if page has applied, in order
WHATIF_ITEM = "uvp.whatif_item"  # the What-if page's candidate item picker
WHATIF_ROUND = "uvp.whatif_round"  # counts the (user, item) pairs opened on What-if: part of its value boxes' keys
WHATIF_VERSION = "uvp.whatif_version"  # counts the edit lists What-if has shown: part of its history pickers' keys
WHATIF_REMOVE, WHATIF_MOVE_FROM, WHATIF_MOVE_TO = "uvp.whatif_remove", "uvp.whatif_move_from", "uvp.whatif_move_to"  # their stems
GROUP_TABLE = "uvp.explain_group_table"  # ((model, dataset, sample size), table) of the last group importance
COHORT_RESULT = "uvp.whatif_cohort_result"  # ((model, dataset), description, CohortWhatIf, caution or None) of the last cohort what-if
COHORT_EDIT = "uvp.cohort_edit"  # the What-if page's cohort edit picker (dropped when the model offers no such edit)


def pick_listed_user(all_users: Sequence[str], listed: list[str], dataset_id: str) -> None:
    """Before the User picker: a user not listed gives way to the first listed one, with a warning when the user is
    in no row of the dataset (a link from another dataset, or a typo: it opened another user silently), unless the
    user was picked on another dataset this session (the analyst changed datasets: nothing to warn about)."""
    wanted = st.session_state.get(EXPLAIN_USER)
    picked_on = st.session_state.get(EXPLAIN_USER_DATASET)
    st.session_state[EXPLAIN_USER_DATASET] = dataset_id
    if wanted in listed:
        return
    if wanted and wanted not in set(all_users) and picked_on in (None, dataset_id):
        st.warning(plain_markdown(f"User {wanted} is not in this dataset (a link from another dataset, or a typo): "
                                  f"showing {listed[0]} instead."))  # fmt: skip
    st.session_state[EXPLAIN_USER] = listed[0]


def default_explain_item(user_id: str, candidates: list[str]) -> None:
    """Before the Item to explain picker: another user's pick, or an item not among the candidates, gives way to
    the user's top item (a pick made for this user, or named in a link, stays)."""
    if st.session_state.get(EXPLAIN_ITEM) not in candidates or st.session_state.get(EXPLAIN_ITEM_USER, user_id) != user_id:
        st.session_state[EXPLAIN_ITEM] = candidates[0]
    st.session_state[EXPLAIN_ITEM_USER] = user_id


def explain_model_picker(ws: Workspace) -> str | None:
    """The model to explain (default: the session's active model); None when the registry is empty."""
    labels = model_labels(ws, dated=False)
    if labels is None:
        return None
    ids = list(labels)
    model_id = st.selectbox("Model", ids, index=ids.index(default_model_id(ws, ids)), format_func=labels.get, key=EXPLAIN_MODEL)
    st.session_state[ACTIVE_MODEL] = model_id
    warn_if_other_data(ws, model_id, active_dataset_id())
    return model_id


def history_picker_key(stem: str) -> str:
    """The key of a What-if history picker (WHATIF_REMOVE, ...) for the current edit list.

    The pickers' options are positions in the edited history, which renumber with every edit: a picker kept across
    an edit pointed at another event than the one it showed (remove "cart · Navy blanket", and the next Remove took a
    purchase). A new key per edit list (WHATIF_VERSION, counted by the page) starts each picker afresh."""
    return f"{stem}.{st.session_state.get(WHATIF_VERSION, 0)}"


def count_whatif_version() -> None:
    """The What-if edit list changed: its history pickers start afresh (history_picker_key)."""
    st.session_state[WHATIF_VERSION] = st.session_state.get(WHATIF_VERSION, 0) + 1


TRAIN_TARGET = "uvp.train_target"  # the Model page's Target picker
TRAIN_TARGET_DATASET = "uvp.train_target_dataset"  # the dataset that picker was last drawn for


def target_for_dataset(dataset_id: str, targets: Sequence[str]) -> None:
    """Start the Target picker at the dataset's default (its first target) when the dataset changed: a browser audit
    switched from a purchase log back to the rating sample and kept "purchase"."""
    if st.session_state.get(TRAIN_TARGET_DATASET) != dataset_id:
        st.session_state[TRAIN_TARGET_DATASET] = dataset_id
        if targets:
            st.session_state[TRAIN_TARGET] = targets[0]


def forget_widgets(*prefixes: str) -> None:
    """Drop the state of widgets whose keys start with a prefix, so they start again from their default value."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefixes)]:
        del st.session_state[key]


HISTORY_UNIT_LABELS = {"item": "one per item (its events together)", "event": "one per event"}  # explain.features.HISTORY_UNITS


@st.cache_resource(max_entries=4, show_spinner=False)
def explain_background(root: str, model_id: str, dataset_id: str, attributes: str = "mode", item_fields: str = "mode"):
    """The masking background of a dataset for a model: most common / median values, a user sample, or absent."""
    from uvp_core.explain import background_for

    return background_for(load_model(root, model_id), load_dataset(root, dataset_id), attributes=attributes, item_fields=item_fields)


@st.cache_data(max_entries=4, show_spinner=False)
def explain_user_table(root: str, dataset_id: str):
    """Users with event counts, attributes and new/active segment (for search and cohorts)."""
    from uvp_core.explain import whatif

    return whatif.user_table(load_dataset(root, dataset_id))


@st.cache_resource(max_entries=64, show_spinner="Explaining…")
def pair_explanation(root: str, model_id: str, dataset_id: str, user_id: str, item_id: str, attributes: str = "mode",
                     history: str = "item", item_fields: str = "mode"):  # fmt: skip
    """The SHAP explanation of one (user, item) prediction, against the chosen background (history: a history
    feature is one item with its events, or one event)."""
    from uvp_core.explain import ExplainConfig, explain_pair

    model, dataset = load_model(root, model_id), load_dataset(root, dataset_id)
    background = explain_background(root, model_id, dataset_id, attributes, item_fields)
    return explain_pair(model, dataset, user_id, item_id, background=background, config=ExplainConfig(history=history))


@st.cache_resource(max_entries=16, show_spinner="Masking tokens and re-scoring…")
def token_explanation(root: str, model_id: str, dataset_id: str, user_id: str, item_id: str, field: str):
    """Token-level SHAP values inside one text (item or profile) of a (user, item) prediction."""
    from uvp_core.explain.tokens import explain_tokens

    model, dataset = load_model(root, model_id), load_dataset(root, dataset_id)
    return explain_tokens(model, model.pair_inputs(dataset, user_id, item_id), field)


@st.cache_data(max_entries=4, show_spinner=False)
def item_titles(root: str, dataset_id: str) -> dict[str, str]:
    """Item id -> title (empty when the dataset has no items table or no title column), for item pickers."""
    items = load_dataset(root, dataset_id).items
    if items is None or "title" not in items.columns:
        return {}
    return dict(zip(items["item_id"].astype(str), items["title"].fillna("").astype(str), strict=True))


def item_label(root: str, dataset_id: str, width: int = 70):
    """A selectbox format_func showing 'item id · title' (the title cut to `width` characters)."""
    titles = item_titles(root, dataset_id)

    def label(item_id: str) -> str:
        title = titles.get(str(item_id), "")
        return f"{item_id} · {title[:width]}{'…' if len(title) > width else ''}" if title else str(item_id)

    return label


@st.cache_data(max_entries=32, show_spinner="Ranking items…")
def top_items(root: str, model_id: str, dataset_id: str, user_id: str, k: int):
    """The model's top-k unseen items for a user."""
    return load_model(root, model_id).recommend(load_dataset(root, dataset_id), user_id, k)


# --- page set-up shared by the diagnostics pages and by the explanation pages -------------------


def note_training_load(ws: Workspace) -> None:
    """A caption when a training run is running: it shares this machine's cores, so pages are slower until it ends."""
    if ws.list_runs("train", status="running"):
        st.caption("A training run is running on this machine and shares its processor cores: this page is slower "
                   "until it finishes (see the Model page).")  # fmt: skip


def evaluation_or_stop(ws: Workspace) -> tuple[EvaluationChoice, PageEvaluation]:
    """The picked model and evaluation set, scored; stops the page with a message when there is none."""
    note_training_load(ws)
    choice = evaluation_picker(ws)
    if choice is None:
        st.stop()
    try:
        page = evaluation(choice)
    except (ValueError, KeyError) as exc:
        st.error("This model cannot be evaluated on this evaluation set:")
        st.text(str(exc))
        st.stop()
    note = page.evalset.note
    (st.warning if "in-sample" in note.split(":")[0] else st.info)("Evaluation set — " + plain_markdown(note))
    return choice, page


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
    note_training_load(ws)
    root = str(ws.root.resolve())
    model_id = explain_model_picker(ws)
    if model_id is None:
        st.stop()
    dataset_id = active_dataset_id()
    return ExplainContext(
        root=root, model_id=model_id, dataset_id=dataset_id, model=load_model(root, model_id),
        dataset=load_dataset(root, dataset_id), users=explain_user_table(root, dataset_id),
    )


# --- the page URL: what a browser reload keeps -----------------------------------------------------
# Session state ends with the browser tab's connection; these choices are also written into the URL
# (?dataset=…&model=…&user=…&item=…), so a reload or a shared link reopens the same dataset, model and user.
URL_KEYS = {ACTIVE_DATASET: "dataset", ACTIVE_MODEL: "model", EXPLAIN_USER: "user", EXPLAIN_ITEM: "item"}
SEGMENT_COLUMN = "uvp.seg_column"  # the Segments page's "Segment by" picker, kept in the URL by keep_segment_in_url
SEGMENT_PARAM = "segment"  # ... its name there (the page keeps it itself: its columns come with the evaluation)
COHORT_CHOSEN = "uvp.cohort_chosen"  # the Segments page's cohort picker (set to a cohort just saved)
COMPARE_SHOWN = "uvp.compare_shown"  # the evaluation the Segments page last compared two models on (kept shown)
URL_CHOICES = {EXPLAIN_BACKGROUND: "background", EXPLAIN_ITEM_BACKGROUND: "item_background", EXPLAIN_HISTORY: "history"}  # radios
URL_RESTORED = "uvp.url_restored"
URL_NOTES = "uvp.url_notes"  # the datasets and models a link named that this workspace does not hold (shown once)


def cohort_delete_key(name: str) -> str:
    """The Segments page's delete confirmation for one cohort (its own key: a tick never carries to another cohort)."""
    return f"uvp.cohort_delete_confirm.{name}"


WHATIF_PARAM = "whatif"  # the What-if page's pair and edits: {"dataset", "user", "item", "edits": whatif.edit_records}
WHATIF_PAIR = "uvp.whatif_pair"  # (dataset, user, item) the What-if edits belong to
WHATIF_FROM_URL = "uvp.whatif_from_url"  # the pair and edits a reloaded link carried, until the What-if page takes them
WHATIF_URL_MAX = 4000  # characters: longer edit lists are not written into the link (a reload then loses them)


SHARED_WIDGETS = (EXPLAIN_USER, EXPLAIN_BACKGROUND, EXPLAIN_HISTORY,  # widgets on more than one page that should agree,
                  EVAL_MODEL, EVAL_SOURCE, EXPLAIN_ITEM)  # or that a visit to another page should not reset  # fmt: skip


def ensure_navigation() -> None:
    """First call of every page. A link straight to a page (/Segments?dataset=…), opened on a server where no session
    has run app.py yet, runs that page on its own: Streamlit's older pages/-folder mode, which skips app.py (its
    navigation, and restoring the link's dataset, model and user) and lists an extra "app" entry. Leave that mode
    and rerun, so app.py runs and opens the same page."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation sets: app.py's list is the one navigation
        st.rerun()


# An analysis setting a page keeps while the analyst visits other pages (a browser audit set Segment by, Metric and
# Minimum rows, went to Data and back, and found all three reset): widget key -> its default (None: the first option).
# Its widget takes no value argument: the default is set here, once, by setting().
PAGE_SETTINGS: dict[str, Any] = {
    SEGMENT_COLUMN: None, "uvp.seg_metric": None, "uvp.seg_bins": 4, "uvp.seg_edges": "", "uvp.seg_min_rows": 30,
    "uvp.seg_second": None, "uvp.seg_value": None, "uvp.seg_shape": None,
    "uvp.cold_metric": None, "uvp.tail_head": 0.2, "uvp.tail_tail": 0.2,
    "uvp.rank_k": 10, "uvp.rank_mode": None, "uvp.rank_negatives": 100, "uvp.rank_users": 200,
    "uvp.explain_k": 10, "uvp.explain_sample": 20,
    "uvp.cohort_saved": None, "uvp.cohort_segment": None, "uvp.cohort_attr": None, "uvp.cohort_attr_value": "",
    COHORT_EDIT: None, "uvp.cohort_drop": 3, "uvp.cohort_category": None, "uvp.cohort_set_attr": None, "uvp.cohort_set_value": "",
    "uvp.train_mode": None, "uvp.train_epochs": 30, "uvp.train_lr": 2e-3, "uvp.train_history": 20, "uvp.train_seed": 0,
    "uvp.train_name": "",
}  # fmt: skip


def setting(key: str) -> str:
    """The key of a PAGE_SETTINGS widget, its default put in session state on first use (KeyError: not registered)."""
    default = PAGE_SETTINGS[key]
    if default is not None:
        st.session_state.setdefault(key, default)
    return key


def keep_shared_widgets() -> None:
    """Before a page runs: re-assign the shared widgets' and page settings' values, so a page without them does not
    drop them (Streamlit forgets a widget's state when a run does not draw it) and the next page opens on the same
    user, and a page visited again on the same settings."""
    for key in (*SHARED_WIDGETS, *PAGE_SETTINGS):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def _url_choice_options(key: str) -> Sequence[str]:
    """The values a URL_CHOICES radio takes (a link naming another one is ignored)."""
    from uvp_core.explain.features import BACKGROUNDS, ITEM_BACKGROUNDS

    return {EXPLAIN_BACKGROUND: BACKGROUNDS, EXPLAIN_ITEM_BACKGROUND: ITEM_BACKGROUNDS, EXPLAIN_HISTORY: HISTORY_UNIT_LABELS}[key]


def restore_from_url(ws: Workspace) -> None:
    """Once per browser session: take the dataset, model, user and item named in the URL (unknown ids are ignored)."""
    if st.session_state.get(URL_RESTORED):
        return
    st.session_state[URL_RESTORED] = True
    checks = {ACTIVE_DATASET: ws.get_dataset_record, ACTIVE_MODEL: ws.get_model_record}
    for key, name in URL_KEYS.items():
        value = st.query_params.get(name)
        if not value or st.session_state.get(key):
            continue
        try:
            checks.get(key, str)(value)
        except (KeyError, ValueError):  # a stale or mistyped link: the page falls back to its default, and says so
            what = "dataset" if key == ACTIVE_DATASET else "model"
            st.session_state.setdefault(URL_NOTES, []).append(
                f"This link names the {what} {value}, which this workspace does not hold (deleted, or from another "
                f"workspace): the pages open on the default {what} instead.")  # fmt: skip
            del st.query_params[name]
            continue
        st.session_state[key] = value  # users and items are checked by the pages that list them
    for key, name in URL_CHOICES.items():  # the explanation's background and history unit: the same numbers after a reload
        value = st.query_params.get(name)
        if value in _url_choice_options(key) and key not in st.session_state:
            st.session_state[key] = value
    try:
        carried = json.loads(st.query_params.get(WHATIF_PARAM) or "null")
    except ValueError:
        carried = None
    if isinstance(carried, dict):
        st.session_state[WHATIF_FROM_URL] = carried  # checked against the data by the What-if page (whatif_restored)


def restore_segment(columns: Sequence[str]) -> None:
    """Before the "Segment by" picker is drawn: the column the URL names, when the picker holds none and it is one of these."""
    if st.query_params.get(SEGMENT_PARAM) in columns and SEGMENT_COLUMN not in st.session_state:  # a reload keeps the choice
        st.session_state[SEGMENT_COLUMN] = st.query_params[SEGMENT_PARAM]


def keep_segment_in_url(column: str) -> None:
    """Write the "Segment by" choice into the URL."""
    if st.query_params.get(SEGMENT_PARAM) != column:
        st.query_params[SEGMENT_PARAM] = column


def show_url_notes() -> None:
    """Warn, once, about what restore_from_url could not reopen."""
    for note in st.session_state.pop(URL_NOTES, []):
        st.warning(plain_markdown(note))


def remember_in_url() -> None:
    """Write this session's dataset, model, user, item, explanation choices and What-if edits into the URL (after the page ran)."""
    for key, name in URL_KEYS.items():
        value = st.session_state.get(key)
        if value and st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)
        elif not value and key in (ACTIVE_DATASET, ACTIVE_MODEL) and name in st.query_params:
            del st.query_params[name]  # e.g. the active model was deleted: the link no longer names it
    for key, name in URL_CHOICES.items():
        value = st.session_state.get(key)
        if value and st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)
    link = whatif_link()
    if link and len(link) <= WHATIF_URL_MAX:
        if st.query_params.get(WHATIF_PARAM) != link:
            st.query_params[WHATIF_PARAM] = link
    elif WHATIF_PARAM in st.query_params and WHATIF_FROM_URL not in st.session_state:
        del st.query_params[WHATIF_PARAM]


def whatif_link() -> str | None:
    """The What-if pair and edits as the URL keeps them (None when there are no edits)."""
    pair, edits = st.session_state.get(WHATIF_PAIR), st.session_state.get(WHATIF_EDITS)
    if not pair or not edits:
        return None
    from uvp_core.explain import whatif

    dataset_id, user_id, item_id = pair
    record = {"dataset": dataset_id, "user": user_id, "item": item_id, "edits": whatif.edit_records(edits)}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def whatif_restored_item(dataset_id: str, user_id: str, choices: Sequence[str]) -> None:
    """Before the What-if item picker: select the item a reloaded link's edits named, else the item the Explain page
    explained for this user or a link named (when it is one of the choices; the picker used to open on the user's top item)."""
    if WHATIF_ITEM in st.session_state:
        return
    carried = st.session_state.get(WHATIF_FROM_URL) or {}
    explained = st.session_state.get(EXPLAIN_ITEM) if st.session_state.get(EXPLAIN_ITEM_USER, user_id) == user_id else None  # no
    # user yet: the item came with the user in a link (restore_from_url), and the Explain page has not run since
    if carried.get("dataset") == dataset_id and carried.get("item") in choices:
        st.session_state[WHATIF_ITEM] = carried["item"]
    elif explained in choices:
        st.session_state[WHATIF_ITEM] = explained


def whatif_restored(model, dataset, dataset_id: str, user_id: str, item_id: str) -> list:
    """The edits a reloaded link carried for this pair (taken once; [] for any other pair), a warning when they no longer apply."""
    from uvp_core.explain import whatif

    carried = st.session_state.pop(WHATIF_FROM_URL, None) or {}
    if [carried.get("dataset"), carried.get("user"), carried.get("item")] != [dataset_id, user_id, item_id]:
        return []
    try:
        edits = whatif.edits_from_records(carried.get("edits"), dataset, model.space_.item_columns)
        whatif.apply_edits(model.pair_inputs(dataset, user_id, item_id), edits, model.history_k, model.late_kinds)  # positions still in the history
    except (ValueError, IndexError) as exc:
        st.warning(f"The edits in this page's link no longer apply to this user and item ({plain_markdown(str(exc))}); starting without edits.")
        return []
    return edits


def default_model_id(ws: Workspace, ids: Sequence[str]) -> str:
    """The model a picker starts on: the active one, else the newest trained on the active dataset, else the newest."""
    active = st.session_state.get(ACTIVE_MODEL)
    if active in ids:
        return active
    dataset_id = active_dataset_id()
    on_dataset = [m.id for m in ws.list_models() if m.dataset_id == dataset_id and m.id in ids]
    return on_dataset[0] if on_dataset else ids[0]


def warn_if_other_data(ws: Workspace, model_id: str, dataset_id: str) -> None:
    """A warning when the model was trained on another dataset than the active one (its IDs then mean little)."""
    if model_trained_on(str(ws.root.resolve()), model_id, dataset_id):
        return
    trained = _dataset_name(ws, ws.get_model_record(model_id).dataset_id) or "another dataset"
    active = ws.get_dataset_record(dataset_id).name
    st.warning(f"This model was trained on {plain_markdown(trained)}, not on the active dataset "
               f"({plain_markdown(active)}). Users and items it never saw are scored from their text and attributes "
               "only. Pick a model trained on this dataset, or change the dataset on the Data page.")  # fmt: skip


def _dataset_name(ws: Workspace, dataset_id: str | None) -> str | None:
    """A stored dataset's name (None when the id is empty or no longer in the workspace), from one lookup."""
    try:
        return ws.get_dataset_record(dataset_id).name if dataset_id else None
    except (KeyError, ValueError):
        return None
