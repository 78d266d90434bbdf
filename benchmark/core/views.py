"""What a method asks of an adapter's views: a `ViewPolicy` (docs/design.md §3.12).

A method's recipe (methods/recipe.py) names the views its paper uses; the adapter turns each policy
into its domain's analogue (datasets/*_views.py): the image pipelines of SimCLR, BYOL or DINO, a
3-D crop for volumes, a short segment for 1-D signals, SCARF's anchor and corrupted rows for
tables, GraphCL's or GRACE's graph views. `None` asks for the adapter's one default view, exactly as
before policies existed (the `legacy` recipes use only that).

Policy kinds:
- `ssl`: a view of a joint-embedding method. `slot` 0 is the first view of a pair, where a domain's
  paper treats the two differently (SCARF: the uncorrupted anchor row; GraphCL's TU code: the
  original graph; GRACE: view 1's drop rates); images read the crop and photometric fields.
  `resolution` < 1 makes it a multi-crop local crop (a short segment for 1-D signals).
- `crop`: geometry only (MAE: crop + flip; I-JEPA: crop), no photometric change.
- `weak` / `strong`: the semi-supervised views (FixMatch): flip + translate, and RandAugment + Cutout
  for images; each domain documents its analogue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VIEW_KINDS = ("ssl", "crop", "weak", "strong")


@dataclass(frozen=True)
class ViewPolicy:
    kind: str = "ssl"
    name: str = ""  # what the recipe table shows, e.g. "BYOL view 1"
    slot: int = 1
    scale: tuple[float, float] = (0.08, 1.0)  # crop share of the area / volume / length
    resolution: float = 1.0  # output side as a fraction of the input's (< 1: a multi-crop local crop)
    flip: bool = True
    # colour jitter strengths (brightness, contrast, saturation, hue) applied with `jitter_p`
    jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    jitter_p: float = 0.0
    grayscale_p: float = 0.0
    blur_p: float = 0.0  # Gaussian blur, σ ∈ [0.1, 2.0] px at 224 px, scaled to the image side
    solarize_p: float = 0.0
    translate: float = 0.125  # weak view: shift by up to this share of each side
    source: str = ""

    def __post_init__(self):
        if self.kind not in VIEW_KINDS:
            raise ValueError(f"view kind must be one of {VIEW_KINDS}, got {self.kind!r}")
        if not (0 < self.scale[0] <= self.scale[1] <= 1):
            raise ValueError(f"crop scale must satisfy 0 < lo <= hi <= 1, got {self.scale}")
        if not 0 < self.resolution <= 1:
            raise ValueError(f"resolution must be in (0, 1], got {self.resolution}")

    @property
    def local(self) -> bool:
        """A multi-crop local crop: smaller than the input, so only spatial domains make it."""
        return self.resolution < 1

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def local_side(side: int, resolution: float, minimum: int) -> int:
    """The output side of a local crop: `resolution` of the input side, at least `minimum` (what the
    default encoder's pooling needs) and never above the input side."""
    return min(side, max(minimum, round(side * resolution)))
