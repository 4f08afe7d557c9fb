"""Training curves as PNG (matplotlib, Agg): reward, held-out pass@1, KL, entropy, completion length."""

from __future__ import annotations

from pathlib import Path

PANELS = [
    ("reward_mean", "reward (mean)"),
    ("eval_pass1", "held-out pass@1 (sampled)"),
    ("kl", "KL to reference (k1)"),
    ("entropy", "entropy (nats/token)"),
    ("length_mean", "completion length (tokens)"),
]


def plot_runs(runs: dict[str, list[dict]], path: str | Path, x: str = "step") -> Path:
    """One panel per metric, one line per run; rows missing a metric are skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for ax, (key, title) in zip(axes, PANELS):
        for label, rows in runs.items():
            pts = [(r[x], r[key]) for r in rows if r.get(key) is not None and x in r]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o" if key.startswith("eval") else None, markersize=3, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(x, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out


def plot_curves(rows: list[dict], path: str | Path) -> Path:
    return plot_runs({"run": rows}, path)
