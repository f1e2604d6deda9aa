"""The sample-effects yardstick's window helper."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.sample_effects import windowed


def test_windowed_looks_at_earlier_events_of_the_same_user_only():
    events = pd.DataFrame({"user_id": ["a", "a", "b", "a", "a", "a"], "event_type": ["purchase", "view", "view", "view", "view", "cart"]})
    flag = np.array([True, False, False, False, False, False])
    assert windowed(events, flag, 2).tolist() == [False, True, False, True, False, False]  # a's first event falls out after 2
    keep = events["event_type"].ne("view").to_numpy()
    assert windowed(events, flag, 2, keep=keep).tolist() == [False, True, False, True, True, True]  # views are not counted
