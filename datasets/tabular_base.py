"""What the tabular adapters share (UCI Adult in `datasets.adult`, covertype in `datasets.covertype`,
breast_cancer and wine in `datasets.sklearn_bundled`): the encoding, the SCARF views, the
corruptions and the `<name>_shuffled` OOD partners.

Encoding (one layout for every tabular set, recorded in `spec.extras`):
- numeric features first, standardised with mean/std fitted on the train split only; a missing
  numeric value becomes 0, i.e. the train mean;
- then each categorical feature as a one-hot group of `1 + #categories` columns, where column 0 of
  the group is a dedicated "missing" category (Adult's `?`, or a category never seen in the
  published schema). The vocabularies are the published schemas (adult.names, covtype.info), so
  the spec — and the encoder built from it — is known before any file is read.
One-hot keeps `benchmark.models.encoders.MLPEncoder` usable as is; SCARF's "replace a feature by a draw
from its empirical marginal" acts on whole groups, so a categorical value is replaced by another
row's category, never by a half one-hot.

Views (batched, generator-driven): SCARF corruption (Bahri et al. 2022) — each feature of each row
is, with probability `scarf_rate` (0.6, the paper's default), replaced by the same feature of a
uniformly drawn train row — then gaussian noise (σ = 0.1 in standardised units) on numeric columns.
Under `paper` recipes (named views, benchmark/core/views.py) a two-view method contrasts SCARF's
anchor — the uncorrupted row (`ssl` slot 0) — with one corrupted row (slot 1, rate 0.6, no noise),
as the paper does (Bahri et al. 2022, §2). Semi-supervised analogues: `weak` is the noise alone,
`strong` corruption and noise (the default view). `crop` (MAE, I-JEPA) leaves the row as it is.

Corruptions (docs/design.md §3.5; keyed randomness, see datasets/_keyed.py, so severities are nested):
- gaussian_noise: σ ∈ {0.1, 0.25, 0.5, 0.75, 1.0} standardised units on numeric features;
- missing_values: {10, 20, 30, 40, 50} % of a row's features set missing and filled exactly as the
  loader fills a missing value (numeric → train mean, categorical → the missing category);
- category_swap: {10, 20, 30, 40, 50} % of a row's categorical features replaced by a different
  category of the schema (only registered for sets with categorical features).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec
from benchmark.core.views import ViewPolicy
from datasets._keyed import keyed_normal, keyed_uniform
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.draws import integers, normal, uniform

NOISE_SIGMAS = (0.1, 0.25, 0.5, 0.75, 1.0)
MISSING_RATES = (0.1, 0.2, 0.3, 0.4, 0.5)
SWAP_RATES = (0.1, 0.2, 0.3, 0.4, 0.5)


def tabular_spec(numeric: list[str], categorical: dict[str, list[str]]) -> InputSpec:
    cards = [len(v) + 1 for v in categorical.values()]  # +1: the missing category (column 0)
    return InputSpec(
        "tabular",
        (len(numeric) + sum(cards),),
        extras={
            "encoding": "one_hot",
            "num_numeric": len(numeric),
            "numeric_features": list(numeric),
            "categorical_features": list(categorical),
            "categorical_cardinalities": cards,
            "layout": "numeric columns first, then one one-hot group per categorical feature; "
            "group column 0 = missing",
        },
    )


class TabularAdapter(Adapter):
    """Shared encoding, views and corruptions. Subclasses implement `read_raw`, returning
    numeric (N, n) float64 with NaN for missing, categorical codes (N, m) int64 with 0 = missing and
    1..K the schema categories, int labels (N,), and {"train","val","test"} index arrays."""

    domain = "tabular"
    views_on_device = True
    numeric: ClassVar[list[str]] = []
    categorical: ClassVar[dict[str, list[str]]] = {}
    scarf_rate: ClassVar[float] = 0.6
    view_noise: ClassVar[float] = 0.1

    @property
    def split_seed_name(self) -> str:
        """The name that seeds splits (a derived OOD partner keeps its base set's splits)."""
        return getattr(self, "split_base", None) or self.name

    def read_raw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    # ---- encoding -------------------------------------------------------------------------
    def load_splits(self) -> dict[str, Split]:
        num, cat, y, idx = self.read_raw()
        n_num, n_cat = len(self.numeric), len(self.categorical)
        if num.shape[1] != n_num or cat.shape[1] != n_cat:
            raise DataError(
                f"{self.name}: reader produced {num.shape[1]} numeric / {cat.shape[1]} "
                f"categorical columns; expected {n_num} / {n_cat}"
            )
        tr = idx["train"]
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(num[tr], axis=0) if n_num else np.zeros(0)
            std = np.nanstd(num[tr], axis=0) if n_num else np.ones(0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        self.numeric_mean, self.numeric_std = mean, std
        x = self.encode(num, cat)
        labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
        splits = {k: Split(x[torch.from_numpy(v)], labels[torch.from_numpy(v)]) for k, v in idx.items()}
        # SCARF's marginals: train rows only
        self._pool = {"cpu": self._feature_table(splits["train"].inputs)}
        return splits

    def encode(self, num: np.ndarray, cat: np.ndarray) -> torch.Tensor:
        z = (num - self.numeric_mean) / self.numeric_std
        z = np.where(np.isnan(z), 0.0, z)  # missing numeric → train mean
        blocks = [torch.from_numpy(z.astype(np.float32))]
        for j, card in enumerate(self.spec.extras["categorical_cardinalities"]):
            blocks.append(
                torch.nn.functional.one_hot(torch.from_numpy(cat[:, j].astype(np.int64)), card).float()
            )
        return torch.cat(blocks, 1) if blocks else torch.empty(len(num), 0)

    # ---- layout helpers -------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return len(self.numeric) + len(self.categorical)

    def _groups(self) -> list[tuple[int, int]]:
        out, start = [], len(self.numeric)
        for card in self.spec.extras["categorical_cardinalities"]:
            out.append((start, start + card))
            start += card
        return out

    def _col2feat(self) -> torch.Tensor:
        """Column → feature index (a one-hot block maps to its categorical feature). Cached: views
        call it every step, and the layout is fixed once the cardinalities are known."""
        key = (len(self.numeric), tuple(self.spec.extras["categorical_cardinalities"]))
        cached = getattr(self, "_col2feat_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        cols = list(range(len(self.numeric)))
        for j, (a, b) in enumerate(self._groups()):
            cols += [len(self.numeric) + j] * (b - a)
        out = torch.tensor(cols, dtype=torch.long)
        self._col2feat_cache = (key, out)
        return out

    def _feature_table(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded rows as (numeric columns (N, n), categorical codes (N, m)); a code is the column of
        the group's one inside the categorical block, so a draw touches m values, not every column."""
        n_num = len(self.numeric)
        codes = [x[:, a:b].argmax(1) + (a - n_num) for a, b in self._groups()]
        cat = torch.stack(codes, 1) if codes else torch.zeros(len(x), 0, dtype=torch.long)
        return x[:, :n_num].contiguous(), cat

    def _group_membership(self, device, dtype) -> torch.Tensor:
        """(m, categorical columns) 0/1 matrix: feature j's one-hot group. A (rows, m) feature mask
        times it is the same mask per column — one small GEMM instead of an index_select."""
        n_num = len(self.numeric)
        key = (str(device), dtype)
        cache = self.__dict__.setdefault("_membership_cache", {})
        if key not in cache:
            groups = self._groups()
            width = (groups[-1][1] - n_num) if groups else 0
            m = torch.zeros(len(groups), width, dtype=dtype)
            for j, (a, b) in enumerate(groups):
                m[j, a - n_num : b - n_num] = 1
            cache[key] = m.to(device)
        return cache[key]

    def _marginal_pool(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        self.splits()
        key = str(device)
        if key not in self._pool:
            self._pool[key] = tuple(t.to(device) for t in self._pool["cpu"])
        return self._pool[key]

    # ---- views ----------------------------------------------------------------------------
    def views(
        self, x: torch.Tensor, generator: torch.Generator, policy: ViewPolicy | None = None
    ) -> torch.Tensor:
        if policy is None:
            return self._scarf(x, generator, self.scarf_rate, self.view_noise)
        if policy.kind == "ssl":  # SCARF: the anchor row against one corrupted row, no noise
            return x if policy.slot == 0 else self._scarf(x, generator, self.scarf_rate, 0.0)
        if policy.kind == "weak":
            return self._scarf(x, generator, 0.0, self.view_noise)
        if policy.kind == "strong":
            return self._scarf(x, generator, self.scarf_rate, self.view_noise)
        return x  # `crop`: a table has no crop

    def _scarf(
        self, x: torch.Tensor, generator: torch.Generator, rate: float, noise_std: float
    ) -> torch.Tensor:
        """Replace each feature with probability `rate` by a random train row's, then add N(0, σ²) to
        the numeric columns (rate 0: noise only, no draws for the replacement)."""
        b, n_num = x.shape[0], len(self.numeric)
        if rate <= 0:
            noise = normal((b, n_num), generator, x.device, x.dtype)
            return torch.cat([x[:, :n_num] + noise_std * noise, x[:, n_num:]], 1)
        pool_num, pool_codes = self._marginal_pool(x.device)
        mask = uniform((b, self.n_features), 0, 1, generator, x.device) < rate
        donors = integers(0, len(pool_num), (b, self.n_features), generator, x.device)
        # A masked feature takes its donor row's value; a categorical one its donor's whole one-hot
        # group (scattered from the donor's code), so a row never holds a half one-hot.
        out_num = torch.where(mask[:, :n_num], pool_num.gather(0, donors[:, :n_num]), x[:, :n_num])
        x_cat = x[:, n_num:]
        if pool_codes.shape[1]:
            donor_hot = torch.zeros_like(x_cat).scatter_(1, pool_codes.gather(0, donors[:, n_num:]), 1.0)
            masked_cols = mask[:, n_num:].to(x.dtype) @ self._group_membership(x.device, x.dtype)
            x_cat = torch.where(masked_cols > 0, donor_hot, x_cat)
        if n_num and noise_std > 0:
            noise = normal((b, n_num), generator, x.device, x.dtype)
            out_num = out_num + noise_std * noise
        return torch.cat([out_num, x_cat], 1)

    # ---- corruptions ----------------------------------------------------------------------
    def corruptions(self) -> dict[str, Any]:
        out = {}
        if self.numeric:
            out["gaussian_noise"] = self._gaussian_noise
        out["missing_values"] = self._missing_values
        if self.categorical:
            out["category_swap"] = self._category_swap
        return out

    @staticmethod
    def _check(severity: int) -> int:
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"severity must be 1..5, got {severity}")
        return severity - 1

    def _gaussian_noise(self, x, sample_indices, severity):
        s = self._check(severity)
        n = len(self.numeric)
        z = keyed_normal("tabular/gaussian_noise", sample_indices.cpu()[:, None], torch.arange(n)[None, :])
        out = x.clone()
        out[:, :n] += (NOISE_SIGMAS[s] * z).to(x.device, x.dtype)
        return out

    def _missing_values(self, x, sample_indices, severity):
        s = self._check(severity)
        u = keyed_uniform(
            "tabular/missing_values", sample_indices.cpu()[:, None], torch.arange(self.n_features)[None, :]
        )
        miss = (u < MISSING_RATES[s]).to(x.device)
        out = x.clone()
        n = len(self.numeric)
        out[:, :n] = torch.where(miss[:, :n], torch.zeros((), device=x.device, dtype=x.dtype), out[:, :n])
        for j, (a, b) in enumerate(self._groups()):
            m = miss[:, n + j]
            out[m, a:b] = 0
            out[m, a] = 1  # the missing category, as the loader encodes `?`
        return out

    def _category_swap(self, x, sample_indices, severity):
        s = self._check(severity)
        m = len(self.categorical)
        keys = (sample_indices.cpu()[:, None], torch.arange(m)[None, :])
        u = keyed_uniform("tabular/category_swap", *keys)
        v = keyed_uniform("tabular/category_swap/value", *keys)
        swap = u < SWAP_RATES[s]
        out = x.clone()
        for j, (a, b) in enumerate(self._groups()):
            k = b - a - 1  # real categories 1..k
            if k < 2:
                continue
            cur = x[:, a:b].argmax(1).cpu()
            shift = 1 + (v[:, j] * (k - 1)).floor().long()
            new = torch.where(cur >= 1, 1 + (cur - 1 + shift) % k, 1 + (v[:, j] * k).floor().long())
            new = torch.where(swap[:, j], new, cur)
            out[:, a:b] = torch.nn.functional.one_hot(new, b - a).to(x.device, x.dtype)
        return out


# ==== OOD partners ============================================================================
# No two tabular sets share a feature layout, so each gets a "near" partner built from its own
# files: `<name>_shuffled`, every feature (a numeric column or a whole one-hot group) permuted
# independently across the rows of each split — realistic marginals, joint structure destroyed
# (the product of marginals SCARF samples from). The OOD protocol adds its own synthetic far noise.
def shuffled_tabular_partner(base: type[TabularAdapter]) -> type[TabularAdapter]:
    def load_splits(self):
        from datasets.splitting import name_seed

        splits = base.load_splits(self)
        cols = self._col2feat()
        out = {}
        for k, v in splits.items():
            g = torch.Generator().manual_seed(name_seed("ood-shuffled", self.name, k))
            perms = torch.stack([torch.randperm(len(v), generator=g) for _ in range(self.n_features)], 1)
            rows = perms[:, cols]
            out[k] = Split(v.inputs[rows, torch.arange(v.inputs.shape[1]).expand_as(rows)], v.labels)
        return out

    cls = type(
        base.__name__ + "Shuffled",
        (base,),
        {
            "__doc__": f"OOD partner of {base.name}: each feature permuted independently across rows.",
            "name": base.name + "_shuffled",
            "ood_partners": {"near": [], "far": []},
            "split_base": base.name,
            "load_splits": load_splits,
            "__module__": base.__module__,
        },
    )
    register_adapter(cls)
    base.ood_partners = {"near": [cls.name], "far": []}
    return cls
