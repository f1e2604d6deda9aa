"""The Dataset contract: a content fingerprint, computed once per Dataset."""

from __future__ import annotations


def test_a_dataset_fingerprint_is_computed_once_and_a_replaced_dataset_gets_its_own(rating_dataset):
    from dataclasses import replace

    first = rating_dataset.fingerprint()
    assert rating_dataset.fingerprint() == first and rating_dataset.__dict__["_fingerprint"] == first
    fewer = replace(rating_dataset, events=rating_dataset.events.iloc[:-1].reset_index(drop=True))
    assert "_fingerprint" not in fewer.__dict__ and fewer.fingerprint() != first
