"""AppTest tests of app.py (which opens the home page) and the Data page: sample on open, real uploads, errors store nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from uvp_core.data import load_path
from uvp_core.workspace import Workspace
from uvp_ui import state

REPO = Path(__file__).resolve().parents[2]
EVENTS_CSV = (
    b"user_id,item_id,timestamp,rating\n"
    b"007,A1,2024-01-01T10:00:00Z,4\n"
    b"007,A2,2024-01-02T10:00:00Z,5\n"
    b"008,A1,2024-01-03T10:00:00Z,3\n"
)
ITEMS_CSV = b'item_id,title\nA1,"<script>alert(1)</script> Mug"\nA2,Plain Plate\n'


@pytest.fixture
def workspace_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own empty workspace."""
    root = tmp_path / "ws"
    monkeypatch.setenv("UVP_WORKSPACE", str(root))
    return root


def page(path: str) -> AppTest:
    """An AppTest of one script with a timeout that fits a busy 2-core machine."""
    return AppTest.from_file(str(REPO / path), default_timeout=120)


def metric_values(at: AppTest) -> dict[str, str]:
    """Metric label -> shown value."""
    return {m.label: m.value for m in at.metric}


def test_home_opens_on_the_bundled_sample(workspace_root: Path) -> None:
    at = page("app.py").run()  # the entry point runs the home page (pages/0_Home.py links pages by app.py's paths)
    assert not at.exception
    assert at.title[0].value == "UVP · User Value Predictor"
    records = Workspace(workspace_root).list_datasets()
    assert len(records) == 1 and records[0].name == "sample_data"
    assert metric_values(at)["Events"] == f"{records[0].n_events:,}"
    assert any(c.value == "Labels: rating, event\\_type" for c in at.caption)  # in full, as text (escaped Markdown)


def test_data_page_summarises_the_sample(workspace_root: Path) -> None:
    at = page("pages/1_Data.py").run()
    assert not at.exception
    record = Workspace(workspace_root).list_datasets()[0]
    values = metric_values(at)
    assert values["Events"] == f"{record.n_events:,}" and values["Users"] == f"{record.n_users:,}"
    helps = {m.label: m.help for m in at.metric}  # the sample's catalogue lists items no event touches
    catalogue = len(load_path(Path(__file__).resolve().parents[2] / "sample_data").dataset.items)
    assert helps["Items"] == f"Items with at least one event; the items table lists {catalogue:,}."
    assert len(at.get("plotly_chart")) == 4
    assert len(at.dataframe) >= 3  # one preview per table


def test_upload_valid_files_then_save(workspace_root: Path) -> None:
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    at.file_uploader(key="uvp.uploader").set_value(
        [("events.csv", EVENTS_CSV, "text/csv"), ("items.csv", ITEMS_CSV, "text/csv")]
    ).run()
    assert not at.exception
    assert any("Valid" in s.value for s in at.success)
    assert not any(h.value.startswith("Summary") for h in at.header)  # the active sample's summary is not shown under it
    assert any("Save the upload to see its summary" in i.value for i in at.info)
    assert at.text_input(key="uvp.upload_name").value.startswith("upload 20")  # two files: "upload" and the date
    at.text_input(key="uvp.upload_name").input("spring shop")
    at.button[0].click().run()
    assert not at.exception
    stored = [r for r in Workspace(workspace_root).list_datasets() if r.n_events == 3]
    assert len(stored) == 1 and stored[0].name == "spring shop"
    assert any(h.value == "Summary · spring shop" for h in at.header)
    assert at.session_state[state.ACTIVE_DATASET] == stored[0].id
    assert not any(b.label == "Save to workspace" for b in at.button)  # redrawn after the save: no second save
    assert any(s.value.startswith("Stored as dataset") for s in at.success)
    again = page("pages/1_Data.py").run()  # another session uploads the same files
    again.radio(key="uvp.data_source").set_value("Upload files").run()
    again.file_uploader(key="uvp.uploader").set_value(
        [("events.csv", EVENTS_CSV, "text/csv"), ("items.csv", ITEMS_CSV, "text/csv")]
    ).run()
    assert not again.exception and not again.button
    assert any(s.value.startswith("These files are already stored as dataset") for s in again.success)
    assert metric_values(at)["Users"] == "2"
    previews = [df.value for df in at.dataframe]
    titles = [v for df in previews if "title" in df.columns for v in df["title"]]
    assert "<script>alert(1)</script> Mug" in titles  # stored verbatim, shown in a dataframe as text
    assert not any("<script>" in md.value for md in at.markdown)


def test_upload_with_errors_stores_nothing(workspace_root: Path) -> None:
    at = page("pages/1_Data.py").run()
    before = {r.id for r in Workspace(workspace_root).list_datasets()}
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    broken = b"user_id,timestamp,rating\n1,2024-01-01,4\n"
    at.file_uploader(key="uvp.uploader").set_value([("events.csv", broken, "text/csv")]).run()
    assert not at.exception
    assert any("nothing was stored" in e.value for e in at.error)
    report = at.dataframe[-1].value
    assert "missing_required_column" in set(report["rule"])
    assert "item_id" in " ".join(report["message"])
    full = next(t.value for t in at.text if "(missing_required_column)" in t.value)  # a table cell cuts long messages off
    assert full.startswith("error · events.csv") and report["message"].iloc[0] in full
    assert len(at.button) == 0
    assert {r.id for r in Workspace(workspace_root).list_datasets()} == before


def test_mapping_override_maps_an_unusual_column(workspace_root: Path) -> None:
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    odd = b"who,thing_code,when,stars\nu1,p1,2024-01-01T00:00:00Z,4\nu2,p1,2024-01-02T00:00:00Z,2\n"
    at.text_area(key="uvp.upload_mapping_text").input("user_id=who\nitem_id=thing_code\ntimestamp=when\nrating=stars")
    at.file_uploader(key="uvp.uploader").set_value([("events.csv", odd, "text/csv")]).run()
    assert not at.exception
    assert any("Valid" in s.value for s in at.success)
    mapping = at.dataframe[0].value
    assert {"role": "item_id", "column": "thing_code"} in mapping[["role", "column"]].to_dict("records")


def test_a_bad_mapping_line_is_quoted_literally(workspace_root: Path) -> None:
    """The mapping error repeats the analyst's line as text: Markdown in it is escaped, not rendered."""
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    at.text_area(key="uvp.upload_mapping_text").input("[x](javascript:alert(1))")
    at.file_uploader(key="uvp.uploader").set_value([("events.csv", EVENTS_CSV, "text/csv")]).run()
    message = next(e.value for e in at.error if e.value.startswith("Mapping"))
    assert "\\[x\\]\\(javascript\\:alert\\(1\\)\\)" in message and "[x](" not in message


def test_upload_help_says_how_files_are_recognised(workspace_root: Path) -> None:
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    help_text = next(c.value for c in at.caption if c.value.startswith("Upload the events file"))
    assert "events.\\*, items.\\* and users.\\*" in help_text and "recognised by its columns" in help_text


def test_an_unrecognised_extra_file_refuses_the_upload(workspace_root: Path) -> None:
    """events.csv + a second file that fits no table read "Valid, with 1 warning(s)" and offered Save without it."""
    at = page("pages/1_Data.py").run()
    before = {r.id for r in Workspace(workspace_root).list_datasets()}
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    notes = b"when,what\n2024-01-01,stock take\n"
    at.file_uploader(key="uvp.uploader").set_value([("events.csv", EVENTS_CSV, "text/csv"), ("notes.csv", notes, "text/csv")]).run()
    assert not at.exception
    assert any("nothing was stored" in e.value for e in at.error) and not any("Valid" in s.value for s in at.success)
    report = at.dataframe[-1].value
    assert report[report["rule"] == "unrecognised_file"]["file"].tolist() == ["notes.csv"]
    assert len(at.button) == 0 and {r.id for r in Workspace(workspace_root).list_datasets()} == before


def test_items_file_with_another_name_is_read_by_its_columns(workspace_root: Path) -> None:
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    negative = ITEMS_CSV.replace(b"item_id,title", b"item_id,title,price").replace(b"Mug\"", b'Mug",2.5').replace(b"Plate", b"Plate,-5.00")
    at.file_uploader(key="uvp.uploader").set_value([("events.csv", EVENTS_CSV, "text/csv"), ("items_neg_price.csv", negative, "text/csv")]).run()
    assert not at.exception
    report = at.dataframe[-1].value
    row = report[report["rule"] == "negative_value"].iloc[0]
    assert (row["file"], row["column"], row["rows"], row["severity"]) == ("items_neg_price.csv", "price", "2", "error")
    assert len(at.button) == 0


def test_the_encoding_choice_reads_a_cp1252_upload(workspace_root: Path) -> None:
    """The non-UTF-8 error pointed to --encoding and encoding=, which the page does not have; the page has the choice now."""
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    french = EVENTS_CSV.replace(b"rating", b"rating,review_text").replace(b",4\n", ",4,déjà vu\n".encode("cp1252"))
    french = french.replace(b",5\n", b",5,ok\n").replace(b",3\n", b",3,ok\n")
    at.file_uploader(key="uvp.uploader").set_value([("events.csv", french, "text/csv")]).run()
    message = next(t.value for t in at.text if "(non_utf8_encoding)" in t.value)
    assert "under Encoding on the Data page" in message and len(at.button) == 0
    at.selectbox(key="uvp.upload_encoding").set_value("cp1252").run()
    assert not at.exception
    assert any("Valid" in s.value for s in at.success)
    at.button[0].click().run()
    stored = [r for r in Workspace(workspace_root).list_datasets() if r.n_events == 3]
    assert len(stored) == 1
    assert "déjà vu" in Workspace(workspace_root).load_dataset(stored[0].id).events["review_text"].tolist()


def test_a_transaction_log_upload_names_the_service_lines_it_drops(workspace_root: Path) -> None:
    """An invoice log's POSTAGE and Bank Charges lines are charges, not products: the page says which were dropped."""
    log = (b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
           b"536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
           b"536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850,United Kingdom\n"
           b"536366,23099,FRENCH CARRIAGE LANTERN,2,2010-12-02 09:00:00,4.95,12583,France\n"
           b"536366,BANK CHARGES,Bank Charges,1,2010-12-02 09:00:00,15.00,12583,France\n")  # fmt: skip
    at = page("pages/1_Data.py").run()
    at.radio(key="uvp.data_source").set_value("Upload files").run()
    at.file_uploader(key="uvp.uploader").set_value([("online_retail.csv", log, "text/csv")]).run()
    assert not at.exception and any("Valid" in s.value for s in at.success)
    report = next(df.value for df in at.dataframe if "rule" in df.columns)
    row = report.loc[report["rule"] == "dropped_service_line"].iloc[0]
    full = next(t.value for t in at.text if "(dropped_service_line)" in t.value)
    assert row["message"] in full and "POST 'POSTAGE' (1)" in full and "BANK CHARGES 'Bank Charges' (1)" in full
    at.button[0].click().run()
    stored = Workspace(workspace_root).list_datasets()[0]
    items = set(Workspace(workspace_root).load_dataset(stored.id).items["item_id"])
    assert items == {"85123A", "23099"}  # the lantern is a product; postage and bank charges are not
