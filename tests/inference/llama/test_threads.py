"""ThreadTuner: picks the faster decode thread count from measured step times (synthetic clock)."""

from __future__ import annotations

import pytest

from fada_desk.inference.llama.threads import ThreadTuner


class Machine:
    """Step cost per thread count; ``switch_s`` extra for the first step after a change."""

    def __init__(self, cost: dict[int, float], switch_s: float = 0.0) -> None:
        self.cost = dict(cost)
        self.switch_s = switch_s
        self.last: int | None = None
        self.time = 0.0
        self.used: list[int] = []

    def step(self, tuner: ThreadTuner) -> int:
        n = tuner.choose()
        dt = self.cost[n] + (self.switch_s if self.last not in (None, n) else 0.0)
        self.last = n
        self.time += dt
        self.used.append(n)
        tuner.record(n, dt)
        return n


def run(tuner: ThreadTuner, m: Machine, steps: int) -> list[int]:
    return [m.step(tuner) for _ in range(steps)]


def test_single_candidate_is_fixed() -> None:
    t = ThreadTuner([1])
    assert t.fixed
    m = Machine({1: 0.027})
    assert set(run(t, m, 50)) == {1}
    assert t.summary()["switches"] == 0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ThreadTuner([])
    with pytest.raises(ValueError):
        ThreadTuner([0])
    with pytest.raises(ValueError):
        ThreadTuner([2, 1], alpha=0.0)
    with pytest.raises(ValueError):
        ThreadTuner([2, 1], interval=64, max_interval=32)


def test_measures_both_then_keeps_the_faster_idle_machine() -> None:
    t = ThreadTuner([1, 2])
    m = Machine({2: 0.021, 1: 0.027}, switch_s=0.01)
    used = run(t, m, 400)
    assert t.current == 2
    assert 1 in used[:10]  # both measured up front
    assert used[-50:].count(2) >= 45
    # probing the slower choice costs little: close to always-2
    assert m.time < 400 * 0.021 * 1.06


def test_busy_machine_prefers_one_thread_and_probes_rarely() -> None:
    t = ThreadTuner([2, 1])
    m = Machine({2: 0.150, 1: 0.027}, switch_s=0.01)
    used = run(t, m, 2000)
    assert t.current == 1
    assert used.count(2) < 40  # initial measurement + exponentially spaced probes
    assert t.interval > t.base_interval


def test_follows_a_change_in_load_both_ways() -> None:
    t = ThreadTuner([2, 1])
    m = Machine({2: 0.021, 1: 0.027})
    run(t, m, 100)
    assert t.current == 2
    m.cost[2] = 0.120  # another program starts and holds a core
    used = run(t, m, 10)
    assert t.current == 1
    assert used[-5:] == [1] * 5  # switched within a few steps, not after a probe interval
    run(t, m, 300)
    assert t.current == 1
    m.cost[2] = 0.021  # it finishes
    run(t, m, 2 * t.max_interval + 10)
    assert t.current == 2


def test_noise_does_not_flap() -> None:
    import random

    rng = random.Random(7)
    t = ThreadTuner([2, 1])
    m = Machine({2: 0.021, 1: 0.027})
    switches = []
    for _ in range(1000):
        m.cost[2] = 0.021 * rng.uniform(0.9, 1.2)
        m.cost[1] = 0.027 * rng.uniform(0.9, 1.2)
        m.step(t)
        switches.append(t.switches)
    assert t.current == 2
    assert t.switches <= 3


def test_other_batch_sizes_are_not_timed_but_count_as_the_last_thread_count() -> None:
    t = ThreadTuner([2, 1], probe_steps=2)
    t.record(2, 0.5, tokens=4)  # a merged batch: not a single-token cost
    assert t.cost[2] is None
    # 2 threads ran last, so measuring 2 needs no extra warm-up step: two timed steps
    for dt in (0.022, 0.021):
        assert t.choose() == 2
        t.record(2, dt)
    assert t.cost[2] == 0.021
    # switching to 1 costs one discarded step before its two timed ones
    for dt in (0.9, 0.028, 0.027):
        assert t.choose() == 1
        t.record(1, dt)
    assert t.cost[1] == 0.027
    assert t.current == 2


def test_summary_reports_costs_in_ms() -> None:
    t = ThreadTuner([2, 1])
    m = Machine({2: 0.020, 1: 0.030})
    run(t, m, 20)
    s = t.summary()
    assert s["current"] == 2
    assert s["cost_ms"] == {2: 20.0, 1: 30.0}
    assert sum(s["steps"].values()) == 20
