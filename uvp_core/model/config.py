"""Training configuration and progress reports."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; defaults suit a CPU. Every field is saved with the model."""

    mode: str = "frozen"  # "frozen": encoder fixed, texts encoded once, only the head trains (fast on CPU);
    #                      "finetune": the encoder trains with the head (slow on CPU: capped by max_samples)
    target: str = "auto"  # "rating" (regression), "label", or an event type such as "purchase"/"click" (binary);
    #                       "auto" picks rating, else label, else purchase, else click (label after them
    #                       when it is 1 on every row: examples.named_positives)
    epochs: int = 30  # upper bound; early stopping usually ends sooner
    batch_size: int = 1024  # examples per step (frozen mode), halved down to 64 while an epoch has under min_steps steps
    min_steps: int = 25  # ... so that small datasets get enough steps (3,500 ratings at 1,024 a batch: 4 steps an epoch)
    lr: float = 2e-3  # head learning rate (AdamW)
    lr_decay: float = 0.5  # learning rates are multiplied by this after each epoch without validation improvement
    weight_decay: float = 1e-4  # decoupled weight decay of the dense head layers
    id_l2: float | None = None  # L2 penalty on the user/item ID embeddings and biases used in each batch; None: 0.03
    #                             for ratings (strong enough that effects shared by many users, such as a membership
    #                             tier, are learned from the profile rather than per ID) and 0.001 for binary targets
    #                             (implicit purchases lean on IDs: Online Retail random AUC 0.865 -> 0.834 at 0.03)
    history_k: int = 20  # most recent events before the prediction time that the model reads
    max_tokens: int = 128  # encoder token limit per text
    hidden_dim: int = 64  # width of the head's towers
    id_dim: int = 16  # size of the user/item ID embeddings (collaborative signal)
    dropout: float = 0.1  # dropout inside the head's MLPs
    id_dropout: float | None = None  # chance an ID is swapped for the shared "unknown" row in training (cold start);
    #                                  None: 0.3 for ratings, 0.1 for binary targets (as id_l2)
    cold_history: int = 5  # a dropped user ID also keeps only 0..cold_history history events (new users)
    cold_first: float = 0.5  # ... share of those dropped users shown their earliest events (as a real new user has)
    #                          rather than their most recent ones
    bias_init: bool = True  # ratings: start at a ridge user+item bias model of the labels (content output at zero)
    refit_biases: bool = True  # ratings: after early stopping, the validation ratings also move the user/item biases
    #                            (training.refit_biases); the reported validation metrics are from before
    negatives_per_positive: int | None = None  # binary targets: sampled non-interacted items per positive event (each
    #   counted as 1/n in calibration); None: 3 in a log of positives only, else 1 (examples.sampled_per_positive)
    val_fraction: float = 0.1  # the most recent share of examples (by time) held out for validation
    patience: int = 6  # epochs without validation improvement before stopping early (small validation sets are noisy)
    seed: int = 0  # seeds negative sampling, initialisation, batch order and dropout
    finetune_epochs: int = 3  # finetune: epochs (replaces `epochs`; each pass re-encodes every text it needs)
    encoder_lr: float = 3e-5  # finetune: encoder learning rate (lower than the head's)
    finetune_batch_size: int = 32  # finetune: examples per step (each encodes its distinct texts)
    max_samples: int = 2000  # finetune on CPU: training examples kept (sampled with the seed)
    device: str = "auto"  # "auto" (cuda when available), "cpu" or "cuda"
    threads: int = 1  # CPU threads of the training loop (results depend on it, so it is fixed for a run;
    #                   1 is robust on shared machines); -1 = torch's setting. Encoding adapts to free cores.

    def __post_init__(self) -> None:
        if self.mode not in ("frozen", "finetune"):
            raise ValueError(f"mode must be 'frozen' or 'finetune', not {self.mode!r}")
        for name in ("epochs", "finetune_epochs", "batch_size", "finetune_batch_size", "history_k", "max_tokens", "hidden_dim", "id_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError("val_fraction must be between 0 and 1")

    def id_settings(self, task: str) -> tuple[float, float]:
        """(id_l2, id_dropout) for a task ("regression" | "binary"), defaults filled in (see the fields)."""
        ratings = task == "regression"
        l2 = self.id_l2 if self.id_l2 is not None else (0.03 if ratings else 1e-3)
        dropout = self.id_dropout if self.id_dropout is not None else (0.3 if ratings else 0.1)
        return float(l2), float(dropout)

    def step_batch_size(self, n_train: int) -> int:
        """Examples per step for n_train training examples (see batch_size and min_steps)."""
        if self.mode == "finetune":
            return self.finetune_batch_size
        size = self.batch_size
        while size > 64 and math.ceil(n_train / size) < self.min_steps:
            size //= 2
        return size

    @property
    def n_epochs(self) -> int:
        """Epochs for this mode: `epochs` (frozen) or `finetune_epochs` (finetune)."""
        return self.finetune_epochs if self.mode == "finetune" else self.epochs

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """A config from a dict, ignoring unknown keys (newer versions) and keeping defaults for missing ones."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


ENCODING_PHASES = ("encoding", "catalogue")  # Progress phases that encode texts: before the epochs, and the rest of the catalogue after


@dataclass(frozen=True)
class Progress:
    """One progress report from a long run."""

    phase: str  # "preparing" | "estimate" | "encoding" | "training" | "validating" | "catalogue" | "calibrating" | "refitting" | "done" | "saving"
    epoch: int = 0  # 1-based epoch (0 outside training)
    step: int = 0  # step within the phase (steps in the epoch, or texts encoded)
    total_steps: int = 0  # total steps in the phase (0 when unknown)
    loss: float | None = None  # mean training loss of the current epoch so far
    val_metric: float | None = None  # last validation metric (RMSE or log loss)
    eta_seconds: float | None = None  # estimated seconds left (upper bound: assumes all epochs run)
    message: str = ""  # one line for a person
