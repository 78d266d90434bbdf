"""Reference recipes: published supervised baselines trained end to end with their own published
architecture and schedule, so a suite can put a reproduced literature number beside the SSL rows
(docs/design.md §3.11). These classes only declare the recipe (name, specs, hyper-parameters); the
training and scoring live in `benchmark.evaluation.reference_recipes`, registered under the same names. A
recipe's epochs are the job's epochs (the suite's `method_epochs`), so the leaderboard's
`pretrain_budget` column shows the schedule that ran."""

from __future__ import annotations

from typing import ClassVar

from benchmark.core.specs import InputSpec
from methods.base import Method, register_method


class ReferenceRecipe(Method):
    """Declaration of an end-to-end reference recipe; never built by the pretraining loop."""

    family = "reference"
    uses_labels = True
    trains = False
    end_to_end = True
    graph_task: ClassVar[str | None] = None  # graph specs: only "node" or only "graph" tasks

    @classmethod
    def supports(cls, spec: InputSpec) -> bool:
        if spec.kind not in cls.supported_specs:
            return False
        return cls.graph_task is None or spec.extras.get("task") == cls.graph_task


@register_method
class GCNSupervised(ReferenceRecipe):
    name = "gcn_supervised"
    paper = "Kipf & Welling 2017, GCN (2 layers, 16 hidden), end to end on Planetoid"
    supported_specs = ("graph",)
    graph_task = "node"
    # Published recipe: dropout 0.5 before both layers, weight decay on the first layer only, early
    # stopping when the val loss exceeds the mean of the previous `patience` epochs.
    defaults = {"hidden": 16, "dropout": 0.5, "lr": 0.01, "weight_decay": 5e-4, "patience": 10}


@register_method
class FCN(ReferenceRecipe):
    name = "fcn"
    paper = "Wang et al. 2017, FCN time-series baseline (128-256-128 conv, GAP), end to end"
    supported_specs = ("signal1d",)
    defaults = {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 16}


@register_method
class ResNet18MedMNIST(ReferenceRecipe):
    name = "resnet18_medmnist"
    paper = "Yang et al. 2023, MedMNIST v2 ResNet-18 (28) baseline, end to end"
    supported_specs = ("image2d",)
    # lr ×0.1 at these fractions of the epochs (50 and 75 of the published 100).
    defaults = {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "milestones": [0.5, 0.75]}


@register_method
class GBDTReference(ReferenceRecipe):
    name = "gbdt_reference"
    paper = "scikit-learn HistGradientBoostingClassifier, learning rate and leaves chosen on val"
    supported_specs = ("tabular",)


@register_method
class LogRegReference(ReferenceRecipe):
    name = "logreg_reference"
    paper = "scikit-learn LogisticRegression, C chosen on val"
    supported_specs = ("tabular",)
