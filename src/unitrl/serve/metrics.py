"""What `unitrl serve` counts, and its `/metrics` page in the Prometheus text format (version 0.0.4).

Counters: requests by endpoint and HTTP code, programs graded by verdict. Gauges: programs waiting in
the queue, programs running, the queue's capacity, and programs/s over the last minute. Request
latency per endpoint is a summary: p50/p90/p99 over the last 4,096 answered requests, plus the
running `_sum` and `_count` Prometheus expects. Updated from the event loop and the sandbox thread
alike, so every method takes one lock.
"""

from __future__ import annotations

import collections
import math
import threading
import time

LATENCY_WINDOW = 4096  # answered requests kept per endpoint for the quantiles
RATE_WINDOW_S = 60  # seconds over which programs/s is averaged


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.verdicts: collections.Counter[str] = collections.Counter()
        self.latency: dict[str, collections.deque[float]] = {}
        self.latency_sum: collections.Counter[str] = collections.Counter()
        self.latency_count: collections.Counter[str] = collections.Counter()
        self._per_second: collections.deque[list[int]] = collections.deque()  # [second, programs]
        self.queued = 0
        self.running = 0
        self.capacity = 0

    def request(self, endpoint: str, code: int, seconds: float | None = None) -> None:
        """One answered request; its latency counts only when it was answered with results (2xx)."""
        with self._lock:
            self.requests[(endpoint, code)] += 1
            if seconds is not None and 200 <= code < 300:
                window = self.latency.setdefault(endpoint, collections.deque(maxlen=LATENCY_WINDOW))
                window.append(seconds)
                self.latency_sum[endpoint] += seconds
                self.latency_count[endpoint] += 1

    def graded(self, status: str) -> None:
        """One program finished in the sandbox with this verdict (a Result's or a step's status)."""
        now = int(time.monotonic())
        with self._lock:
            self.verdicts[status] += 1
            if self._per_second and self._per_second[-1][0] == now:
                self._per_second[-1][1] += 1
            else:
                self._per_second.append([now, 1])
                while self._per_second and self._per_second[0][0] <= now - RATE_WINDOW_S:
                    self._per_second.popleft()

    def set_queue(self, queued: int, running: int, capacity: int) -> None:
        with self._lock:
            self.queued, self.running, self.capacity = queued, running, capacity

    def programs_per_second(self) -> float:
        """Programs finished per second over the last minute (or since start, when younger)."""
        now = time.monotonic()
        with self._lock:
            recent = sum(n for second, n in self._per_second if second > int(now) - RATE_WINDOW_S)
        span = min(RATE_WINDOW_S, max(now - self.started, 1.0))
        return recent / span

    def render(self) -> str:
        """The Prometheus text exposition of everything above."""
        rate = self.programs_per_second()
        with self._lock:
            lines = [
                *_gauge(
                    "unitrl_queue_programs",
                    "Programs admitted and waiting for a sandbox worker.",
                    self.queued,
                ),
                *_gauge(
                    "unitrl_running_programs", "Programs in the batch the sandbox is running.", self.running
                ),
                *_gauge(
                    "unitrl_queue_capacity_programs", "Programs admitted at once before 503.", self.capacity
                ),
                *_gauge(
                    "unitrl_programs_per_second", "Programs graded per second, last minute.", round(rate, 3)
                ),
                "# HELP unitrl_programs_total Programs graded, by verdict.",
                "# TYPE unitrl_programs_total counter",
            ]
            lines += [f'unitrl_programs_total{{status="{s}"}} {n}' for s, n in sorted(self.verdicts.items())]
            lines += [
                "# HELP unitrl_requests_total HTTP requests answered.",
                "# TYPE unitrl_requests_total counter",
            ]
            lines += [
                f'unitrl_requests_total{{endpoint="{e}",code="{c}"}} {n}'
                for (e, c), n in sorted(self.requests.items())
            ]
            lines += [
                "# HELP unitrl_request_seconds Latency of answered requests (admission to answer).",
                "# TYPE unitrl_request_seconds summary",
            ]
            for endpoint, window in sorted(self.latency.items()):
                values = sorted(window)
                for q in (0.5, 0.9, 0.99):
                    lines.append(
                        f'unitrl_request_seconds{{endpoint="{endpoint}",quantile="{q}"}} {quantile(values, q):.6f}'
                    )
                lines.append(
                    f'unitrl_request_seconds_sum{{endpoint="{endpoint}"}} {self.latency_sum[endpoint]:.6f}'
                )
                lines.append(
                    f'unitrl_request_seconds_count{{endpoint="{endpoint}"}} {self.latency_count[endpoint]}'
                )
        return "\n".join(lines) + "\n"


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
