"""Metrics at a glance: the numbers are read from the metrics the processes record (here as the
Prometheus text a scrape would give), the percentiles estimated from the histogram's buckets."""
from __future__ import annotations

import pytest

from smartbot.ops import glance
from smartbot.telemetry import metrics

SCRAPE = """
# TYPE smartbot_messages_handled_total counter
smartbot_messages_handled_total{channel="generic",result="ok"} 7
smartbot_messages_handled_total{channel="generic",result="error"} 2
smartbot_messages_handled_total{channel="slack",result="failed"} 1
# TYPE smartbot_replies_total counter
smartbot_replies_total{channel="generic",result="delivered"} 9
smartbot_replies_total{channel="generic",result="retry"} 3
# TYPE smartbot_reply_latency_seconds histogram
smartbot_reply_latency_seconds_bucket{channel="generic",le="0.1"} 2
smartbot_reply_latency_seconds_bucket{channel="generic",le="1.0"} 6
smartbot_reply_latency_seconds_bucket{channel="generic",le="+Inf"} 6
smartbot_reply_latency_seconds_sum{channel="generic"} 2.4
smartbot_reply_latency_seconds_count{channel="generic"} 6
smartbot_reply_latency_seconds_bucket{channel="slack",le="0.1"} 0
smartbot_reply_latency_seconds_bucket{channel="slack",le="1.0"} 2
smartbot_reply_latency_seconds_bucket{channel="slack",le="+Inf"} 4
smartbot_reply_latency_seconds_sum{channel="slack"} 9.6
smartbot_reply_latency_seconds_count{channel="slack"} 4
# TYPE smartbot_model_calls_total counter
smartbot_model_calls_total{provider="main",result="ok"} 8
smartbot_model_calls_total{provider="main",result="unavailable"} 2
smartbot_model_calls_total{provider="backup",result="timeout"} 1
# TYPE smartbot_model_call_seconds histogram
smartbot_model_call_seconds_bucket{provider="main",le="+Inf"} 10
smartbot_model_call_seconds_sum{provider="main"} 5.0
smartbot_model_call_seconds_count{provider="main"} 10
# TYPE smartbot_model_tokens_total counter
smartbot_model_tokens_total{kind="prompt",provider="main"} 80
smartbot_model_tokens_total{kind="completion",provider="main"} 40
# TYPE smartbot_model_cache_total counter
smartbot_model_cache_total{result="hit"} 1
smartbot_model_cache_total{result="miss"} 3
"""


def test_the_glance_sums_what_the_processes_counted(db):
    seen = glance.read(db, SCRAPE)
    assert (seen.handled, seen.handled_errors, seen.delivered, seen.delivery_failures) == (10, 3, 9, 3)
    assert (seen.cache_hits, seen.cache_lookups) == (1, 4)
    main, backup = seen.models[1], seen.models[0]
    assert (main.provider, main.calls, main.failed, main.errors, main.tokens) == ("main", 10, 2, {"unavailable": 2}, 120)
    assert main.mean_seconds == pytest.approx(0.5)
    assert (backup.provider, backup.failed, backup.mean_seconds) == ("backup", 1, None)
    latency = seen.reply_latency                   # both channels' buckets added up: 2, 8, 10 of 10
    assert latency.count == 10 and latency.mean == pytest.approx(1.2)
    assert latency.p50 == pytest.approx(0.1 + 0.9 * (5 - 2) / (8 - 2))
    assert latency.p95 == 1.0, "past the highest finite bucket the estimate is that bucket's bound"
    assert seen.queues["inbox"]["depth"] == 0 and seen.figures["messages_per_minute"] == 0


def test_the_glance_reads_this_servers_own_metrics_when_given_none(db):
    metrics.count("messages_handled_total", channel="generic", result="ok")
    metrics.observe("reply_latency_seconds", 0.3, channel="generic")
    seen = glance.read(db)
    assert seen.handled == 1 and seen.reply_latency.count == 1 and 0.25 <= seen.reply_latency.p50 <= 0.5


def test_no_samples_give_no_estimate():
    assert glance.quantile(0.5, []) is None
    assert glance.quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None
    assert glance.latency({}, "reply_latency_seconds") == glance.Latency()
