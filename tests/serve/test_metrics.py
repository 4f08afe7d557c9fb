"""The /metrics page's numbers: nearest-rank quantiles and the Prometheus text, checked by hand."""

from __future__ import annotations

from unitrl.serve.metrics import Metrics, quantile


def test_nearest_rank_quantiles():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert quantile(values, 0.5) == 50.0
    assert quantile(values, 0.99) == 99.0
    assert quantile(values, 1.0) == 100.0
    assert quantile([7.0], 0.99) == 7.0
    assert quantile([], 0.5) != quantile([], 0.5)  # nan


def test_render_counts_only_answered_latencies_and_every_verdict():
    m = Metrics()
    for seconds in (0.1, 0.2, 0.3, 0.4):
        m.request("grade", 200, seconds)
    m.request("grade", 503, 9.0)  # refused: counted, not a latency
    for status in ("pass", "pass", "fail", "timeout"):
        m.graded(status)
    m.set_queue(5, 2, 100)
    text = m.render()
    assert 'unitrl_request_seconds{endpoint="grade",quantile="0.5"} 0.200000' in text
    assert 'unitrl_request_seconds_count{endpoint="grade"} 4' in text
    assert 'unitrl_requests_total{endpoint="grade",code="503"} 1' in text
    assert 'unitrl_programs_total{status="pass"} 2' in text
    assert "unitrl_queue_programs 5" in text and "unitrl_running_programs 2" in text
    assert m.programs_per_second() > 0
