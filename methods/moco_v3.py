"""MoCo v3 (Chen, Xie & He, ICCV 2021): in-batch InfoNCE between an online query (encoder →
projector → predictor) and momentum-encoder keys, symmetrised, scaled by 2τ; no queue."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods._utils import ema_update, frozen_copy
from methods.base import Method, projection_mlp, register_method
from methods.byol import BYOL_VIEWS
from methods.recipe import BATCH, DOMAINS, EMA, ENCODER, EPOCHS, HEADS, Recipe


def moco_v3_loss(q: torch.Tensor, k: torch.Tensor, temperature: float) -> torch.Tensor:
    """2τ · CE(q kᵀ / τ, diag): the key of the same sample is the positive, the other keys in the
    batch are negatives (q, k L2-normalised inside)."""
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    logits = q @ k.t() / temperature
    labels = torch.arange(q.shape[0], device=q.device)
    return 2 * temperature * F.cross_entropy(logits, labels)


# The ResNet recipe (the benchmark's encoders are CNNs): the paper's ViT settings (AdamW, T 0.2)
# are for transformers.
RECIPE = Recipe(
    source="Chen, Xie & He 2021, §4 and App. (ResNet-50); main_moco.py defaults: LARS lr 0.6 × bs/256, "
    "wd 1e-6 (not on biases / BN), 10-epoch warm-up of 100, cosine; T 1.0, m 0.99 → 1 (cosine); BYOL's views",
    optimizer="lars",
    lr=0.6,
    lr_scaling="linear",
    weight_decay=1e-6,
    exclude_bias_norm=True,
    lr_warmup_frac=0.1,
    ema=EMA(0.99, 1.0, "cosine"),
    views=BYOL_VIEWS,
    hparams={"temperature": 1.0},
    deviations=(ENCODER, DOMAINS, EPOCHS, BATCH, HEADS),
)


@register_method
class MoCoV3(Method):
    name = "moco_v3"
    family = "contrastive"
    paper = (
        "Chen, Xie & He 2021, An Empirical Study of Training Self-Supervised Vision Transformers (MoCo v3)"
    )
    # Paper: 3-layer 4096-256 projector, 2-layer 4096-256 predictor, T 0.2 (ViT) / 1.0 (ResNet),
    # m 0.99 → 1 (cosine). Widths scaled for 128-d encoders.
    defaults = {
        "temperature": 0.2,
        "momentum": 0.99,
        "proj_hidden": 1024,
        "proj_dim": 256,
        "pred_hidden": 1024,
    }
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(
            encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"], layers=3, last_bn=True
        )
        self.predictor = projection_mlp(
            self.hp["proj_dim"], self.hp["pred_hidden"], self.hp["proj_dim"], layers=2, last_bn=True
        )
        self.momentum_encoder = frozen_copy(self.encoder)
        self.momentum_projector = frozen_copy(self.projector)
        self._m = self.hp["momentum"]
        self.ema = self.ema_schedule(EMA(self.hp["momentum"], 1.0, "cosine"), "momentum")

    def training_step(self, x, y, view):
        x1, x2 = self.augment(view, x, "view_1"), self.augment(view, x, "view_2")
        q1 = self.predictor(self.projector(self.encoder(x1)))
        q2 = self.predictor(self.projector(self.encoder(x2)))
        with torch.no_grad():
            k1 = self.momentum_projector(self.momentum_encoder(x1))
            k2 = self.momentum_projector(self.momentum_encoder(x2))
        t = self.hp["temperature"]
        return moco_v3_loss(q1, k2, t) + moco_v3_loss(q2, k1, t)

    @torch.no_grad()
    def on_step_end(self, step, total_steps):
        self._m = self.ema.at(step, total_steps)
        ema_update(self.momentum_encoder, self.encoder, self._m)
        ema_update(self.momentum_projector, self.projector, self._m)
