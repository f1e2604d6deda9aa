"""Token-level drill-down: SHAP values of the words inside one text the encoder reads.

The feature-level explanation (shap_explain.py) says how much "the item's text" or "the profile" moved
a prediction; this module splits one of those texts into the encoder's tokens. It uses shap's own
`maskers.Text` with the model's tokenizer (a masked token is replaced by the tokenizer's mask token, as
in BERT pre-training, and runs of masked tokens collapse into one) and the partition algorithm, which
explains long texts with a few hundred model calls by masking the tokenizer's hierarchy of spans. Each
masked text is re-encoded and re-scored with everything else about the pair unchanged, so the values
are faithful to the model (frozen or fine-tuned) and add up: base value (all tokens masked) + sum =
the prediction.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import shap

from uvp_core.model import PairInputs

TEXT_FIELDS = {"item": "the candidate item's text", "profile": "the user's profile text"}
MAX_EVALS = 300  # model evaluations (masked texts) per drill-down; partition SHAP is additive at any budget


def field_text(model, inputs: PairInputs, field: str) -> str:
    """The exact text the encoder reads for one text field of a pair ("item" or "profile")."""
    return model.rendered_texts(inputs)[_check(field)]


def explain_tokens(model, inputs: PairInputs, field: str = "item", max_evals: int = MAX_EVALS) -> shap.Explanation:
    """shap.Explanation over the tokens of one text field; `.prediction` is the unmasked model output."""
    text = field_text(model, inputs, field)
    key = f"{_check(field)}_text"

    def f(texts) -> np.ndarray:
        rows = [replace(inputs, **{key: str(t)}) for t in texts]
        return np.asarray(model.score_inputs(rows), dtype=np.float64)

    tokenizer = model.encoder_.tokenizer
    masker = shap.maskers.Text(tokenizer, mask_token=tokenizer.mask_token or "...", collapse_mask_token=True)
    explainer = shap.Explainer(f, masker, algorithm="partition")
    result = explainer([text], max_evals=max_evals, silent=True)[0]
    result.prediction = float(f([text])[0])
    result.field = field
    return result


def unmasked_note(model, field: str) -> str | None:
    """What a token drill-down of the item text leaves as it is: the model's item indicators (category and word
    one-hots, price), read from the item's fields rather than from the text (None for the profile, or none of them)."""
    space = getattr(model, "space_", None)
    if field != "item" or space is None or not (space.item_levels or space.item_words):
        return None
    words = f"the words {', '.join(space.item_words)} as indicators" if space.item_words else ""
    levels = f"the values of {', '.join(space.item_levels)} as indicators" if space.item_levels else ""
    read = " and ".join(p for p in (levels, words) if p)
    return (f"This view masks only the words the encoder reads. The model also reads {read}, from the item's fields, "
            "and those stay as they are here: an effect that runs through them (say, a word crossed with the user's "
            "region) shows in the feature-level explanation above, not in these word values.")


SPECIAL_TOKENS = ("[start]", "[end]")  # how the tokenizer's empty first and last tokens (BERT's [CLS], [SEP]) are shown


def _named_ends(tokens: list[str]) -> list[str]:
    """The tokens with an empty first and last one named SPECIAL_TOKENS (they have no text of their own)."""
    tokens = list(tokens)
    for position, name in ((0, SPECIAL_TOKENS[0]), (len(tokens) - 1, SPECIAL_TOKENS[1])):
        if tokens and tokens[position] == "":
            tokens[position] = name
    return tokens


def token_frame(exp: shap.Explanation) -> pd.DataFrame:
    """One row per token in text order: position, token (as text; the empty ends named SPECIAL_TOKENS), contribution."""
    return pd.DataFrame(
        {
            "position": np.arange(len(exp.values)),
            "token": _named_ends([str(t) for t in exp.data]),
            "contribution": np.asarray(exp.values, dtype=float),
        }
    )


def word_frame(exp: shap.Explanation) -> pd.DataFrame:
    """One row per word in text order: the tokens of a word joined (a word ends at a token that ends with a
    space, as the text masker cuts them) and their contributions summed (SHAP values add up, so the sums
    still add to the prediction)."""
    words: list[str] = []
    counts: list[int] = []
    values: list[float] = []
    for token, value in zip(exp.data, np.asarray(exp.values, dtype=float), strict=True):
        token = str(token)
        if not words or not token or not words[-1] or words[-1][-1].isspace() or token[0].isspace():
            words.append(token)
            counts.append(1)
            values.append(float(value))
        else:
            words[-1] += token
            counts[-1] += 1
            values[-1] += float(value)
    return pd.DataFrame({"position": np.arange(len(words)), "token": _named_ends(words), "tokens": counts, "contribution": values})


def _check(field: str) -> str:
    """The field name, or a ValueError naming the allowed ones."""
    if field not in TEXT_FIELDS:
        raise ValueError(f"Unknown text field {field!r}: use one of {', '.join(TEXT_FIELDS)}.")
    return field
