"""Loss and learning-rate curves of a run, as PNG files beside the exported model.

Example::

    from biomed.train.plots import plot_curves

    plot_curves(trainer.state.log_history, plan, cfg.tokens_per_step, "pretrain_output/final")
"""

from __future__ import annotations

from pathlib import Path

from biomed.train.schedule import PhasePlan


def plot_curves(log_history: list[dict], plan: PhasePlan, tokens_per_step: int, folder: str | Path) -> list[Path]:
    """Write ``loss.png`` (logged training loss against tokens) and ``lr.png`` (the schedule, every step).

    Phase boundaries are drawn as dashed lines on both.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on clusters
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    boundaries = [span.start for span in plan.spans[1:]]
    points = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry and "step" in entry]

    fig, ax = plt.subplots(figsize=(7, 4))
    if points:
        steps, losses = zip(*points)
        ax.plot([s * tokens_per_step for s in steps], losses, marker="." if len(points) < 50 else None)
    for step in boundaries:
        ax.axvline(step * tokens_per_step, linestyle="--", color="grey")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("training loss")
    ax.set_title(" -> ".join(f"{span.phase.name} ({span.phase.objective})" for span in plan.spans))
    fig.tight_layout()
    loss_png = folder / "loss.png"
    fig.savefig(loss_png, dpi=120)
    plt.close(fig)

    stride = max(1, plan.total_steps // 2000)
    steps = list(range(0, plan.total_steps, stride))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [plan.lr_at(s) for s in steps])
    for step in boundaries:
        ax.axvline(step, linestyle="--", color="grey")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    fig.tight_layout()
    lr_png = folder / "lr.png"
    fig.savefig(lr_png, dpi=120)
    plt.close(fig)
    return [loss_png, lr_png]
