"""`benchmarks/device_throughput.py --limit` (issue #32): the bare training step on a device-resident
batch with views made once and replayed. On CPU: it trains (a finite loss), and after the warm-up
no view is generated and no batch is gathered, so it times the step alone (gpu_check.sh, the
prepared GPU session that runs it, is tests/training/test_gpu_check.py)."""

import torch
from _benchmark_scripts import load_script

from tests._protocol_toys import ToyA


class _CountingToy(ToyA):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.view_calls = self.batch_calls = 0

    def views(self, x, generator):
        self.view_calls += 1
        return super().views(x, generator)

    def batch(self, split, idx):
        self.batch_calls += 1
        return super().batch(split, idx)


def test_limit_replays_device_resident_views_and_trains(one_thread):
    dt = load_script("device_throughput")
    a = _CountingToy()
    split = a.splits()["train"]
    r = dt.measure_limit(a, split, torch.arange(400), torch.device("cpu"), "off", 32, steps=6, warmup=2)
    # one counting step + 2 warm-up steps make views (SimCLR: 2 per step); the 6 timed steps none
    assert a.view_calls == 2 + 2 * 2
    assert a.batch_calls == 1  # the one batch, gathered once
    assert r["pairs_per_s"] > 0 and r["step_ms"] > 0 and torch.isfinite(torch.tensor(r["final_loss"]))


def test_replay_cycles_the_recorded_views_in_order():
    dt = load_script("device_throughput")
    made = iter(range(100))

    class _Fake:
        multi_crop = False

        def __call__(self, x, policy=None):
            return next(made)

    replay = dt._Replay(_Fake(), n=4)
    assert [replay(None) for _ in range(10)] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_the_throughput_cases_build_a_masked_methods_own_token_encoder(one_thread):
    """`throughput.py` cases such as fashion_mnist:mae (gpu_check's token-encoder case) build the
    method's encoder as the runner does, and both the limit and the real loop train it."""
    from benchmark.models.tokens import TokenEncoder

    tp = load_script("throughput")
    a = ToyA()
    split, pool = a.splits()["train"], torch.arange(64)
    assert isinstance(tp.build(a, "mae", {}).encoder, TokenEncoder)
    assert not isinstance(tp.build(a, "simclr", {}).encoder, TokenEncoder)
    assert tp.time_limit(a, "mae", {}, split, pool, 16, 2) > 0
    assert tp.time_ours(a, "mae", {}, split, pool, 16, 2) > 0


def test_the_profile_says_where_a_steps_host_time_goes(one_thread):
    dt = load_script("device_throughput")
    a = _CountingToy()
    cpu = torch.device("cpu")
    lines = dt.profile_steps(a, a.splits()["train"], torch.arange(400), cpu, "off", 32, steps=2, warmup=1)
    assert a.view_calls == 2 * 3  # SimCLR's two views in each of the warm-up and profiled steps
    assert lines[0].startswith("profile: amp=off 2 steps, batch 32:") and "device kernels n/a" in lines[0]
    values = dict(kv.split("=") for kv in lines[1].removeprefix("profile: values ").split(";"))
    assert set(values) == {"wall_ms", "step_ms", "views_ms", "kernels_ms"}
    assert 0 < float(values["views_ms"]) < float(values["step_ms"])  # the views are part of the step
    assert float(values["kernels_ms"]) == 0  # no device kernels on the CPU
    assert any("aten::" in line for line in lines[2:])  # the ops that cost the host most
