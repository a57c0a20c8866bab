"""Study A training performance (not a test): loop overhead, images/s, quick-profile time.

Prints a table with:

1. the training loop of :func:`mpirad.tomo.train.train_model` (batches gathered from
   the preloaded tensors, per-epoch validation, atomic checkpoints) against the raw
   forward/backward/step of the same model over the same batches and the same
   validation forward passes; the ratio should be at most 1.10;
2. training images per second of the classifier and the segmenter at 128 x 128 and
   512 x 512 on this machine's CPU (or GPU when present);
3. the wall time of the quick profile for all five splits of one split unit on the
   synthetic cohort (both tasks), with ``--splits``.

Run: ``python benchmarks/bench_train.py [--splits] [--threads N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from mpirad.tomo.models import build_classifier, build_segmenter
from mpirad.tomo.train import (
    TrainConfig,
    epoch_batches,
    seed_everything,
    select_device,
    task_loss,
    train_model,
)


def _toy_data(n: int, size: int, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=generator)
    if task == "classification":
        return images, torch.arange(n) % 2
    return images, torch.rand(n, size, size, generator=generator) > 0.8


def _build(task: str) -> torch.nn.Module:
    return build_classifier() if task == "classification" else build_segmenter()


def loop_overhead(task: str, *, n_train: int, n_val: int, size: int, epochs: int) -> dict:
    """Seconds of train_model vs the raw passes over identical batches."""
    device = select_device()
    config = TrainConfig(epochs=epochs, batch_size=32 if task == "classification" else 16)
    train_x, train_y = _toy_data(n_train, size, task)
    val_x, val_y = _toy_data(n_val, size, task)

    seed_everything(0)
    model = _build(task).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    batches = [
        (train_x[b].to(device), train_y[b].to(device))
        for epoch in range(1, epochs + 1)
        for b in epoch_batches(n_train, config.batch_size, seed=0, epoch=epoch)
    ]
    validation = [
        (
            val_x[s : s + config.eval_batch_size].to(device),
            val_y[s : s + config.eval_batch_size].to(device),
        )
        for s in range(0, n_val, config.eval_batch_size)
    ]
    _synchronise(device)
    started = time.perf_counter()
    per_epoch = len(batches) // epochs
    for epoch in range(epochs):
        model.train()
        for x, y in batches[epoch * per_epoch : (epoch + 1) * per_epoch]:
            optimizer.zero_grad(set_to_none=True)
            task_loss(task, model(x), y).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x, y in validation:
                float(task_loss(task, model(x), y))
    _synchronise(device)
    raw = time.perf_counter() - started

    seed_everything(0)
    model = _build(task)
    with tempfile.TemporaryDirectory() as folder:
        _synchronise(device)
        started = time.perf_counter()
        train_model(
            model,
            task=task,  # type: ignore[arg-type]
            train_inputs=train_x,
            train_targets=train_y,
            validation_inputs=val_x,
            validation_targets=val_y,
            config=config,
            checkpoint_dir=Path(folder),
            seed=0,
            device=device,
            progress=False,
        )
        _synchronise(device)
        loop = time.perf_counter() - started
    return {"raw_s": raw, "loop_s": loop, "ratio": loop / raw}


def images_per_second(task: str, size: int, *, batch: int, steps: int) -> float:
    """Training throughput (forward + backward + AdamW step) after one warm-up step."""
    device = select_device()
    model = _build(task).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = _toy_data(batch, size, task)
    x, y = x.to(device), y.to(device)
    for step in range(steps + 1):
        if step == 1:
            _synchronise(device)
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        task_loss(task, model(x), y).backward()
        optimizer.step()
    _synchronise(device)
    return batch * steps / (time.perf_counter() - started)


def quick_profile_time(out_dir: Path, unit: str) -> float:
    """Seconds for all five quick-profile splits (both tasks) on the synthetic cohort."""
    from mpirad.phantom import synthesize
    from mpirad.tomo.run import run_all_splits

    root = out_dir / "synthetic-a"
    if not root.exists():
        synthesize("a", root, seed=0)
    started = time.perf_counter()
    run_all_splits(root, units=(unit,), profile="quick", out_dir=out_dir / "runs", progress=False)  # type: ignore[arg-type]
    return time.perf_counter() - started


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", action="store_true", help="also time the quick profile")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device()
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    print(f"{'measurement':58s} {'value':>12s}")
    for task in ("classification", "segmentation"):
        n_train = 192 if task == "classification" else 96
        result = loop_overhead(task, n_train=n_train, n_val=48, size=64, epochs=3)
        print(
            f"{task + ': train_model / raw passes (64 px, 3 epochs)':58s} {result['ratio']:12.3f}"
            f"   ({result['loop_s']:.1f} s vs {result['raw_s']:.1f} s)"
        )
    for task in ("classification", "segmentation"):
        for size, batch, steps in ((128, 16, 3), (512, 4, 2)):
            rate = images_per_second(task, size, batch=batch, steps=steps)
            print(f"{task + f': training images/s at {size} x {size}':58s} {rate:12.1f}")
    if args.splits:
        with tempfile.TemporaryDirectory() as folder:
            for unit in ("patient", "image"):
                seconds = quick_profile_time(Path(folder), unit)
                print(f"{f'quick profile, 5 splits, {unit} unit (s)':58s} {seconds:12.1f}")


if __name__ == "__main__":
    main()
