"""Each method's paper recipe (methods/recipe.py), checked against a frozen table: a default that
drifts fails here, and the generated docs/recipes.md must match the method files."""

from pathlib import Path

import pytest
import torch

import methods  # noqa: F401  (registers every method)
from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.models.encoders import encoder_for_spec
from benchmark.reporting.recipes import recipe_entries, render_recipes
from methods.base import METHODS
from methods.recipe import EMA, Freeze, Recipe, legacy_recipe

ROOT = Path(__file__).resolve().parents[2]

# method: (optimizer, base lr, scaling, weight decay, wd end, bias/norm excluded, warm-up share,
#          schedule, lr end, clip, freezes, EMA (start, end, schedule) or None, view roles, paper hparams)
CONST, COS = (0.999, 0.999, "constant"), "cosine"
PAIR, MULTI = ("view_1", "view_2"), ("global_1", "global_2", "local")
FROZEN = {
    "simclr": ("lars", 0.3, "linear", 1e-6, None, True, 0.1, COS, 0.0, None, (), None, PAIR,
               {"temperature": 0.5}),
    "simclr on tabular": ("adamw", 1e-3, "none", 0.0, None, False, 0.0, COS, 0.0, None, (), None, PAIR,
                          {"temperature": 1.0}),
    "simclr on graph:graph": ("adamw", 0.01, "none", 0.0, None, False, 0.0, "constant", 0.0, None, (), None,
                              PAIR,
                              {"temperature": 0.2}),
    "simclr on graph:node": ("adamw", 5e-4, "none", 1e-5, None, False, 0.0, "constant", 0.0, None, (), None,
                             PAIR,
                             {"temperature": 0.4, "proj_head": "grace", "proj_hidden": 128, "proj_dim": 128}),
    "moco_v2": ("sgd", 0.03, "linear", 1e-4, None, False, 0.0, COS, 0.0, None, (), CONST, PAIR,
                {"proj_bn": False, "symmetric": False}),
    "moco_v3": ("lars", 0.6, "linear", 1e-6, None, True, 0.1, COS, 0.0, None, (), (0.99, 1.0, COS), PAIR,
                {"temperature": 1.0}),
    "byol": ("lars", 0.2, "linear", 1.5e-6, None, True, 0.01, COS, 0.0, None, (), (0.996, 1.0, COS), PAIR,
             {}),
    "simsiam": ("sgd", 0.05, "linear", 1e-4, None, False, 0.0, COS, 0.0, None, (), None, PAIR, {}),
    "barlow_twins": ("lars", 0.2, "linear", 1.5e-6, None, True, 0.01, COS, 0.001, None, (), None, PAIR, {}),
    "vicreg": ("lars", 0.2, "linear", 1e-6, None, True, 0.01, COS, 0.001, None, (), None, PAIR, {}),
    "swav": ("lars", 0.3, "linear", 1e-6, None, False, 0.1, COS, 0.001, None, (("prototypes", 0.01),), None,
             MULTI, {"queue_size": 3840, "queue_start_frac": 0.075, "local_crops": 6}),
    "dino": ("adamw", 5e-4, "linear", 0.04, 0.4, True, 0.1, COS, 0.0, 3.0, (("head.last", 0.01),),
             (0.996, 1.0, COS), MULTI,
             {"teacher_temp": 0.07, "warmup_teacher_temp": 0.04, "warmup_frac": 0.3, "local_crops": 8}),
    "mae": ("adamw", 1.5e-4, "linear", 0.05, None, True, 0.05, COS, 0.0, None, (), None, ("input",),
            {"augment": True}),
    "mmcr": ("adamw", 1e-3, "none", 1e-6, None, False, 0.0, COS, 0.0, None, (), None, ("view",), {}),
    "jepa": ("adamw", 1.25e-4, "linear", 0.04, 0.4, True, 40 / 300, COS, 0.0, None, (),
             (0.996, 1.0, "linear"), ("input",), {"augment": True, "per_sample_masks": True}),
    "fixmatch": ("sgd", 0.03, "none", 5e-4, None, True, 0.0, "fixmatch_cosine", 0.0, None, (), CONST,
                 ("weak", "strong"), {}),
    "mixmatch": ("adamw", 0.002, "none", 0.02, None, True, 0.0, "constant", 0.0, None, (), CONST, ("weak",),
                 {"rampup_frac": 1 / 64}),
    "mean_teacher": ("adamw", 0.003, "none", 0.0, None, False, 40_000 / 150_000, COS, 0.0, None, (),
                     (0.99, 0.999, "step"), ("weak",), {"rampup_frac": 40_000 / 150_000}),
    "dgi": ("adamw", 1e-3, "none", 0.0, None, False, 0.0, "constant", 0.0, None, (), None, (), {}),
}  # fmt: skip
TRAINED = {
    "simclr", "moco_v2", "moco_v3", "byol", "simsiam", "barlow_twins", "vicreg", "swav", "dino", "mae",
    "mmcr", "jepa", "fixmatch", "mixmatch", "mean_teacher", "dgi",
}  # fmt: skip


def _frozen_view(r: Recipe):
    ema = (r.ema.start, r.ema.end, r.ema.schedule) if r.ema else None
    freezes = tuple((f.prefix, f.until) for f in r.freeze)
    return (
        r.optimizer, r.lr, r.lr_scaling, r.weight_decay, r.weight_decay_end, r.exclude_bias_norm,
        r.lr_warmup_frac, r.schedule, r.lr_end, r.clip_grad, freezes, ema, tuple(r.views), dict(r.hparams),
    )  # fmt: skip


def test_every_trained_method_has_a_recipe_with_sources_and_deviations():
    entries = dict(recipe_entries())
    assert {label for label in entries if " on " not in label} == TRAINED
    for label, r in entries.items():
        assert r.source and r.deviations, label
        assert all(d.what and d.reason for d in r.deviations), label
        assert all(p.name for p in r.views.values()), label  # every view is named in the table


@pytest.mark.parametrize("label", sorted(FROZEN))
def test_recipe_defaults_match_the_frozen_table(label):
    r = dict(recipe_entries())[label]
    assert _frozen_view(r) == FROZEN[label]


def test_paper_hparams_and_view_roles_are_the_methods_own():
    # a recipe may only set hyper-parameters the method knows, and only name views its step asks for
    for name in TRAINED:
        cls = METHODS[name]
        for r in [cls.recipe, *cls.recipe.by_spec.values()]:
            assert set(r.hparams) <= set(cls.defaults), name
            src = Path(__import__(cls.__module__, fromlist=["x"]).__file__).read_text()
            for role in r.views:
                assert f'"{role}"' in src, (name, role)


def test_docs_recipes_page_is_the_generated_table():
    page = (ROOT / "docs" / "recipes.md").read_text()
    assert page == render_recipes(), (
        "regenerate: python run_benchmark.py list methods --recipes > docs/recipes.md"
    )


def test_cli_prints_every_trained_method_with_source_and_deviations(capsys):
    from benchmark.cli import main

    assert main(["list", "methods", "--recipes"]) == 0
    out = capsys.readouterr().out
    assert out == render_recipes()
    for name in TRAINED:
        assert f"| {name} |" in out
    assert "## Deviations" in out and "## Sources" in out


IMAGE = InputSpec("image2d", (1, 16, 16))


def _make(name, mode="paper", spec=IMAGE, **hp):
    return METHODS[name](encoder_for_spec(spec), spec, TaskSpec(3), recipes=mode, **hp)


def test_legacy_mode_is_the_single_optimiser_and_the_default_views():
    m = _make("byol", "legacy")
    assert m.training_recipe == legacy_recipe(1e-3, 1e-6)
    assert m.policy("view_1") is None and m.ema == EMA(m.defaults["momentum"], 1.0, "cosine")
    assert m.hp["momentum"] == m.defaults["momentum"]
    spec = InputSpec("image2d", (1, 16, 16))
    mae = METHODS["mae"](METHODS["mae"].build_encoder(spec), spec, TaskSpec(3), recipes="legacy")
    assert mae.training_recipe.weight_decay == 0.05 and not mae.hp["augment"]  # MAE's legacy default


def test_paper_mode_reads_the_recipe_and_suite_overrides_win():
    m = _make("moco_v3")
    assert m.hp["temperature"] == 1.0 and m.hp["lr"] == 0.6 and m.training_recipe.optimizer == "lars"
    m = _make("moco_v3", lr=0.1, optimizer="sgd", temperature=0.3, momentum=0.9)
    assert m.training_recipe.lr == 0.1 and m.training_recipe.optimizer == "sgd" and m.hp["temperature"] == 0.3
    assert m.ema.start == 0.9 and m.ema.end == 1.0  # the EMA's start is the `momentum` override
    assert m.training_recipe.peak_lr(128) == pytest.approx(0.05)  # still scaled by its rule


def test_a_spec_picks_the_domains_own_recipe():
    graph = InputSpec("graph", (7,), extras={"task": "node"})
    assert METHODS["simclr"].recipe.for_spec(graph).hparams["temperature"] == 0.4
    tab = _make("simclr", spec=InputSpec("tabular", (7,)))
    assert tab.hp["temperature"] == 1.0 and tab.training_recipe.optimizer == "adamw"
    assert _make("simclr").hp["temperature"] == 0.5
    # GRACE's head on node graphs (Linear-ELU-Linear, 128 wide, no BatchNorm); the BN projector elsewhere
    node = [type(m) for m in _make("simclr", spec=graph).projector]
    assert node == [torch.nn.Linear, torch.nn.ELU, torch.nn.Linear]
    assert _make("simclr", spec=graph).projector[0].out_features == 128
    assert torch.nn.BatchNorm1d in [type(m) for m in _make("simclr").projector]
    with pytest.raises(ValueError, match="proj_head"):
        _make("simclr", proj_head="mlp")


def test_paper_only_behaviour_switches():
    spec = InputSpec("image2d", (1, 16, 16))
    assert not hasattr(_make("fixmatch", "legacy", spec), "ema_encoder")
    fm = _make("fixmatch", "paper", spec)
    assert fm.ema.start == 0.999 and hasattr(fm, "ema_encoder")
    mm = _make("mixmatch", "paper", spec)
    assert mm.hp["rampup_frac"] == 1 / 64 and _make("mixmatch", "legacy", spec).hp["rampup_frac"] == 1.0
    heads = [type(m) for m in _make("moco_v2", "paper", spec).projector]
    assert torch.nn.BatchNorm1d not in heads
    assert torch.nn.BatchNorm1d in [type(m) for m in _make("moco_v2", "legacy", spec).projector]
    assert METHODS["dino"].recipe.freeze == (Freeze("head.last", 0.01),)


def test_ema_schedules():
    assert EMA(0.99, 1.0, "cosine").at(0, 100) == pytest.approx(0.99)
    assert EMA(0.99, 1.0, "cosine").at(100, 100) == pytest.approx(1.0)
    assert EMA(0.996, 1.0, "linear").at(50, 100) == pytest.approx(0.998)
    step = EMA(0.99, 0.999, "step", switch=0.3)
    assert step.at(29, 100) == 0.99 and step.at(30, 100) == 0.999
    # the true average: the first steps average the weights seen, never the init at 0.999
    avg = EMA(0.999, 0.999, "constant", true_average=True)
    assert avg.at(0, 100) == 0.0 and avg.at(1, 100) == pytest.approx(0.5) and avg.at(10**6, 10**6) == 0.999


def test_training_fingerprint_follows_behaviour_not_prose():
    """`run` re-runs a stored job when its method's fingerprint changed (orchestration/runner.py): a
    changed lr, view or hyper-parameter must change it; a reworded source or view name must not."""
    from dataclasses import replace

    from methods.recipe import recipe_digest

    graph = InputSpec("graph", (7,), extras={"task": "node"})
    simclr = METHODS["simclr"]
    base = simclr.recipe.for_spec(graph)
    hp = {"temperature": 0.4}
    digest = recipe_digest(base, hp)
    assert recipe_digest(replace(base, source="reworded", deviations=()), hp) == digest
    renamed = {k: replace(v, name="other words") for k, v in base.views.items()}
    assert recipe_digest(replace(base, views=renamed), hp) == digest
    assert recipe_digest(replace(base, lr=1e-3), hp) != digest
    wider = {k: replace(v, scale=(0.2, 1.0)) for k, v in base.views.items()}
    assert recipe_digest(replace(base, views=wider), hp) != digest
    assert recipe_digest(base, {"temperature": 0.5}) != digest
    # per domain, per recipe mode and per suite override
    fps = {
        simclr.training_fingerprint(graph, "paper", {}),
        simclr.training_fingerprint(IMAGE, "paper", {}),
        simclr.training_fingerprint(graph, "legacy", {}),
        simclr.training_fingerprint(graph, "paper", {"lr_multiplier": 2.0}),
    }
    assert len(fps) == 4
    assert simclr.training_fingerprint(graph, "paper", {}) == simclr.training_fingerprint(graph, "paper", {})
