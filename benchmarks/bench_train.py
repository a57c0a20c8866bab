"""Study A training performance (not a test): loop overhead, images/s, quick-profile time.

Prints a table with:

1. the training loop of :func:`mpirad.tomo.train.train_model` (batches gathered from
   the preloaded tensors, per-epoch validation, atomic checkpoints) against the raw
   forward/backward/step of the same model over the same batches and the same
   validation forward passes; the ratio should be at most 1.10;
2. training images per second of the classifier and the segmenter at 128 x 128 and
   512 x 512 on this machine's CPU (or GPU when present);
3. the wall time of the quick profile for all five splits of one split unit on the
   synthetic cohort (both tasks), with ``--splits``;
4. with ``--phases``, where one quick-profile split spends its time (data, training
   passes, evaluation, checkpoints, outputs; :mod:`split_phases`) and the size of its
   checkpoints (MB);
5. on a CPU with Intel AMX, training images per second at the quick profile's 64 x 64
   in float32 and under bfloat16 autocast (``TrainConfig(cpu_bfloat16=True)``).

Run: ``python benchmarks/bench_train.py [--splits] [--phases] [--threads N]``.
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
    flip_augment,
    native_cpu_bfloat16,
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


def loop_overhead(
    task: str, *, n_train: int, n_val: int, size: int, epochs: int, repeats: int
) -> dict:
    """``epochs`` epochs of train_model against the raw passes over the same batches.

    Both are timed ``repeats`` times, alternately, and the fastest of each is kept, so
    that other processes on a shared machine distort the ratio as little as possible.
    The raw epoch is forward + loss + backward + AdamW step over the batches that
    :func:`~mpirad.tomo.train.epoch_batches` gives (gathered and augmented beforehand)
    plus the validation forward passes; the loop epoch adds gathering the batches from
    the preloaded tensors, flip augmentation, the validation AUC and writing
    ``last.pt`` and ``best.pt``.
    """
    device = select_device()
    config = TrainConfig(epochs=epochs, batch_size=32 if task == "classification" else 16)
    train_x, train_y = _toy_data(n_train, size, task)
    val_x, val_y = _toy_data(n_val, size, task)
    batches = []
    for epoch in range(1, epochs + 1):
        for step, index in enumerate(
            epoch_batches(n_train, config.batch_size, seed=0, epoch=epoch)
        ):
            x, y = flip_augment(train_x[index], train_y[index], seed=0, epoch=epoch, step=step)
            batches.append((x.to(device), y.to(device)))
    per_epoch = len(batches) // epochs
    validation = [
        (
            val_x[s : s + config.eval_batch_size].to(device),
            val_y[s : s + config.eval_batch_size].to(device),
        )
        for s in range(0, n_val, config.eval_batch_size)
    ]
    raw_times, loop_times = [], []
    for _ in range(repeats):
        seed_everything(0)
        model = _build(task).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
        _synchronise(device)
        started = time.perf_counter()
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
        raw_times.append(time.perf_counter() - started)

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
            loop_times.append(time.perf_counter() - started)
    raw, loop = min(raw_times), min(loop_times)
    return {"raw_s": raw, "loop_s": loop, "ratio": loop / raw}


def images_per_second(
    task: str, size: int, *, batch: int, steps: int, repeats: int = 3, bfloat16: bool = False
) -> float:
    """Training throughput (forward + backward + AdamW step), best of ``repeats``.

    ``bfloat16``: on the CPU, bfloat16 autocast in channels-last layout, as
    ``TrainConfig(cpu_bfloat16=True)`` trains on a CPU with Intel AMX.
    """
    device = select_device()
    layout = torch.channels_last if bfloat16 else torch.contiguous_format
    model = _build(task).to(device, memory_format=layout).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = _toy_data(batch, size, task)
    x, y = x.to(device).contiguous(memory_format=layout), y.to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
            logits = model(x)
        task_loss(task, logits, y).backward()
        optimizer.step()

    step()  # warm-up
    rates = []
    for _ in range(repeats):
        _synchronise(device)
        started = time.perf_counter()
        for _ in range(steps):
            step()
        _synchronise(device)
        rates.append(batch * steps / (time.perf_counter() - started))
    return max(rates)


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
    parser.add_argument("--phases", action="store_true", help="only the per-phase split table")
    parser.add_argument("--dataset", default="synthetic-a", help="manifest name (--phases)")
    parser.add_argument("--unit", default="patient", help="split unit (--phases)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.phases:
        from split_phases import print_phases

        print_phases(args.dataset, args.unit)
        return
    device = select_device()
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    print(f"{'measurement':58s} {'value':>12s}")
    for task in ("classification", "segmentation"):
        n_train = 384 if task == "classification" else 160
        result = loop_overhead(task, n_train=n_train, n_val=48, size=64, epochs=4, repeats=2)
        print(
            f"{task + ': train_model / raw passes (64 px, 4 epochs)':58s} {result['ratio']:12.3f}"
            f"   ({result['loop_s']:.2f} s vs {result['raw_s']:.2f} s, best of 2)"
        )
    for task in ("classification", "segmentation"):
        for size, batch, steps in ((128, 16, 2), (512, 4, 1)):
            rate = images_per_second(task, size, batch=batch, steps=steps)
            print(f"{task + f': training images/s at {size} x {size}':58s} {rate:12.1f}")
    if device.type == "cpu" and native_cpu_bfloat16():  # the quick profile's CPU arithmetic
        for task, batch in (("classification", 32), ("segmentation", 16)):
            rates = [images_per_second(task, 64, batch=batch, steps=3, bfloat16=bf16)
                     for bf16 in (False, True)]  # fmt: skip
            print(f"{task + ': images/s at 64 x 64, float32 / bfloat16 (AMX)':58s} "
                  f"{rates[0]:6.1f} / {rates[1]:.1f}")  # fmt: skip
    if args.splits:
        with tempfile.TemporaryDirectory() as folder:
            for unit in ("patient", "image"):
                seconds = quick_profile_time(Path(folder), unit)
                print(f"{f'quick profile, 5 splits, {unit} unit (s)':58s} {seconds:12.1f}")


if __name__ == "__main__":
    main()
