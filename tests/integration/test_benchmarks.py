"""Every benchmark in bench/ runs end to end at a tiny size, so none can rot unnoticed.

No timing is asserted: what each benchmark itself checks (calls routed, outcomes tracked, the
cap, no duplicates) is, since a benchmark whose own checks fail measures nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import (
    ami_ingest,
    callback_dialer,
    inbound_load,
    live_share_cost,
    outage_lookup,
    pop_latency,
    recording_cost,
    storm,
)
from ivr.app import Bridge
from ivr.config import Settings
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox


async def test_ami_ingest_tracks_every_call_of_the_replayed_stream() -> None:
    result = await ami_ingest.main(20)
    assert result["ok"] == 1.0  # the tracked visit outcomes are exactly the stream's calls
    assert result["bare_s"] > 0 and result["ours_s"] > 0


@pytest.mark.postgres
async def test_live_share_cost_writes_the_picture_and_reads_it_back(postgres_url: str) -> None:
    result = await live_share_cost.main(postgres_url, 20, 30, 20, 2)
    # the storm picture came back whole (checked inside); the shared replay wrote at least once
    assert result["writes"] >= 1 and result["bytes"] > 0


@pytest.mark.integration
async def test_inbound_load_runs_the_menu_four_ways(sandbox: AmiEndpoint, bridge: Bridge) -> None:
    box = AsteriskSandbox.from_settings(Settings())  # held by this session already
    (level,) = (await inbound_load.run(box, bridge, [1], hold_s=7)).values()
    assert list(level) == ["dialplan", "queued", "bridge", "classic"]
    assert level["dialplan"].routed == 1 and level["queued"].routed == 1
    assert level["bridge"].routed == 1
    # Asterisk's AGIExec events reach the observer (its `agi` read class): latencies exist
    assert len(level["bridge"].start_s) == 1 and level["bridge"].think_s
    # the classic script ran inside Asterisk's root with its python3 and wrote its record
    assert level["classic"].recorded == 1
    assert level["classic"].children_cpu_s > 0


@pytest.mark.integration
async def test_outage_lookup_runs_plain_and_notice_callers(
    sandbox: AmiEndpoint, bridge: Bridge
) -> None:
    box = AsteriskSandbox.from_settings(Settings())  # held by this session already
    [(plain, notice)] = await outage_lookup.run(box, bridge, calls=1, customers=50, rounds=1)
    assert (plain.routed, notice.routed) == (1, 1)  # the notice caller went on to the menu
    assert plain.think_s and notice.think_s
    assert bridge.notices is not None and not bridge.notices.index.outages  # cancelled after


@pytest.mark.integration
@pytest.mark.postgres
async def test_callback_dialer_bench_places_each_callback_once_within_the_cap(
    sandbox: AmiEndpoint, postgres_url: str
) -> None:
    box = AsteriskSandbox.from_settings(Settings())
    outcomes = await callback_dialer.run(box, n=3, cap=2, rate=5, db_url=postgres_url, max_s=90)
    assert [o.name for o in outcomes] == ["bare", "1 bridge", "2 bridges"]
    for outcome in outcomes:
        assert (outcome.dialled, outcome.dup_ami) == (3, 0), outcome
        assert 1 <= outcome.peak <= 2, outcome
    for outcome in outcomes[1:]:
        assert outcome.dup_db == 0, outcome
        assert outcome.results == {"completed": 3}, outcome


@pytest.mark.integration
@pytest.mark.postgres
async def test_callback_dialer_bench_on_two_servers_keeps_both_caps(
    sandbox: AmiEndpoint, second_sandbox: AsteriskSandbox, postgres_url: str
) -> None:
    box = AsteriskSandbox.from_settings(Settings())
    outcomes = await callback_dialer.run(
        box, n=4, cap=2, rate=5, db_url=postgres_url, max_s=90, second=second_sandbox, server_cap=1
    )
    assert [o.name for o in outcomes] == ["bare", "1 server", "2 servers"]
    for outcome in outcomes:
        assert (outcome.dialled, outcome.dup_ami) == (4, 0), outcome
    one, two = outcomes[1:]
    assert one.peak == 1 and one.by_server == {"a": 4}  # held to its trunk's cap of 1
    assert 1 <= two.peak <= 2 and set(two.by_server) == {"a", "b"}, two
    for outcome in (one, two):
        assert outcome.dup_db == 0, outcome
        assert outcome.results == {"completed": 4}, outcome


@pytest.mark.integration
async def test_pop_latency_bench_pushes_every_ring_to_its_client(sandbox: AmiEndpoint) -> None:
    box = AsteriskSandbox.from_settings(Settings())
    figures = await pop_latency.run(box, clients=3, answering=2, calls=2, spread_s=1)
    assert figures["answered"] == 2  # both calls answered, each seen by its agent's page
    assert figures["rings"] >= 2 and figures["push_p50_ms"] >= 0
    assert figures["poll_seen"] + figures["poll_missed"] == figures["rung_pairs"]


@pytest.mark.integration
async def test_recording_cost_bench_records_only_the_recorded_batch(sandbox: AmiEndpoint) -> None:
    box = AsteriskSandbox.from_settings(Settings())  # held by this session already
    batches, lines = await recording_cost.run(box, n=2, talk_s=3, rounds=1)
    assert [b.recorded for b in batches] == [False, True]
    for b in batches:
        assert b.answered == 2, b
    assert batches[0].files == 0 and batches[1].files == 4  # two directions per recorded call
    assert batches[1].bytes > 0 and batches[1].audio_s > 0
    assert any("MB per minute" in line for line in lines)


@pytest.mark.integration
@pytest.mark.postgres
async def test_storm_bench_on_one_and_two_servers_serves_the_area_by_the_notice(
    sandbox: AmiEndpoint, second_sandbox: AsteriskSandbox, postgres_url: str, tmp_path: Path
) -> None:
    """The storm's one-server run and its two-server run (the outage declared through the
    first bridge, the second's notice read from the shared database)."""
    box = AsteriskSandbox.from_settings(Settings())  # held by this session already
    [(base, one, two)] = await storm.run_two_servers(
        box, second_sandbox, postgres_url, [4], tmp_path, area_share=0.5, agents=2, patience_s=15
    )
    assert base.routed == 4  # the plain-dialplan baseline ran in the same run
    assert one.by_server == {storm.SERVER_A: 4}, one
    # callers 0, 2 on a and 1, 3 on b: one area caller and one menu caller each
    assert two.by_server == {storm.SERVER_A: 2, storm.SERVER_B: 2}, two
    for result in (one, two):
        assert (result.informed, result.by_agent, result.not_originated) == (2, 2, 0), result
        assert sum(result.dropped.values()) == 0, result.dropped
        assert len(result.call_lag_s) == 4 and len(result.visit_lag_s) == 2
        assert result.think_s and len(result.start_s) == 4
