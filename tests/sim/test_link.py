"""Channels: exact timing, tail drop, faults, and same-instant delivery batching."""

import random

import pytest
import simpy

from switchsim.config import LinkConfig
from switchsim.sim.link import Channel, Deliveries, channel_rng


def make(env, received, **link):
    config = LinkConfig(**{"rate_bps": 1e9, "delay_s": 1e-6, "queue_bytes": 4096, **link})
    return Channel(env, "a->b", config, lambda p: received.append((env.now, p)), random.Random(1), Deliveries(env))


def test_serialization_then_propagation():
    env, received = simpy.Environment(), []
    channel = make(env, received)
    assert channel.send("a", 1000, 0.0) == pytest.approx(8e-6)
    assert channel.send("b", 1000, 0.0) == pytest.approx(16e-6)  # queued behind a
    env.run()
    assert received == [(pytest.approx(9e-6), "a"), (pytest.approx(17e-6), "b")]
    assert channel.stats.packets == 2 and channel.stats.bytes == 2000
    assert channel.busy_s == pytest.approx(16e-6)
    assert channel.stats.max_queue_bytes == pytest.approx(1000)


def test_tail_drop_when_the_queue_is_full():
    env, received = simpy.Environment(), []
    channel = make(env, received, queue_bytes=2500)
    # backlogs found: 0, 1000, 2000 (+1000 > 2500: dropped), 2000 (dropped)
    results = [channel.send(i, 1000, 0.0) for i in range(4)]
    assert [r is not None for r in results] == [True, True, False, False]
    env.run()
    assert [p for _, p in received] == [0, 1]
    assert channel.stats.queue_drops == 2


def test_loss_rate_and_duplicates_follow_their_probabilities():
    env, received = simpy.Environment(), []
    channel = make(env, received, loss=0.2, duplicate=0.1, duplicate_delay_s=1e-3, queue_bytes=10**9)
    for i in range(20000):
        channel.send(i, 100, i * 1e-6)
    env.run()
    assert channel.stats.loss_drops / 20000 == pytest.approx(0.2, abs=0.015)
    assert channel.stats.duplicates / (20000 - channel.stats.loss_drops) == pytest.approx(0.1, abs=0.01)
    assert len(received) == 20000 - channel.stats.loss_drops + channel.stats.duplicates


def test_same_instant_deliveries_share_one_event_in_order():
    env = simpy.Environment()
    deliveries = Deliveries(env)
    seen = []
    for i in range(5):
        deliveries.deliver(2.0, seen.append, i)
    deliveries.deliver(1.0, seen.append, "early")
    assert len(deliveries.pending) == 2
    env.run()
    assert seen == ["early", 0, 1, 2, 3, 4]
    assert deliveries.pending == {}


def test_reserve_models_back_to_back_packets():
    env, received = simpy.Environment(), []
    channel = make(env, received)
    first, last = channel.reserve(10, 1000, 0.0, 0.0)
    assert first == pytest.approx(8e-6 + 1e-6)
    assert last == pytest.approx(80e-6 + 1e-6)
    first, last = channel.reserve(1, 1000, 0.0, 0.0)  # waits behind the ten
    assert first == pytest.approx(88e-6 + 1e-6)


def test_channel_rngs_are_independent_and_reproducible():
    assert channel_rng(1, 2).random() == channel_rng(1, 2).random()
    assert channel_rng(1, 2).random() != channel_rng(1, 3).random()
