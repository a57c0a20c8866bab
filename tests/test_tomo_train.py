"""Seeded, resumable training (mpirad.tomo.train)."""

from __future__ import annotations

import pytest
import torch

import mpirad.tomo.train as train_module
from mpirad.tomo.checkpoints import RESUME_KEYS, CheckpointWriter, finalise, load_weights
from mpirad.tomo.models import build_classifier, build_segmenter
from mpirad.tomo.train import (
    CheckpointMismatchError,
    TrainConfig,
    epoch_batches,
    flip_augment,
    n_batches,
    native_cpu_bfloat16,
    seed_everything,
    segmentation_loss,
    train_model,
)

torch.set_num_threads(1)
CONFIG = TrainConfig(epochs=3, batch_size=4, learning_rate=1e-3)


def toy_classification(n: int = 12):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, 32, 32, generator=generator)
    labels = torch.arange(n) % 2
    images[labels == 1, :, 8:16, 8:16] += 1.0  # a learnable signal
    return images, labels


def train_classifier(checkpoint_dir, on_epoch_end=None, config=CONFIG, seed=5):
    images, labels = toy_classification()
    seed_everything(seed)
    model = build_classifier()
    result = train_model(
        model,
        task="classification",
        train_inputs=images[:8],
        train_targets=labels[:8],
        validation_inputs=images[8:],
        validation_targets=labels[8:],
        config=config,
        checkpoint_dir=checkpoint_dir,
        seed=seed,
        device="cpu",
        progress=False,
        on_epoch_end=on_epoch_end,
    )
    return model, result


class Interrupted(Exception):
    pass


def stop_after_first_epoch(epoch, row):
    if epoch == 1:
        raise Interrupted


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    model, result = train_classifier(tmp_path / "straight")
    assert len(result.history) == 3 and result.resumed_from == 0

    with pytest.raises(Interrupted):
        train_classifier(tmp_path / "interrupted", on_epoch_end=stop_after_first_epoch)
    assert (tmp_path / "interrupted" / "last.pt").is_file()
    resumed_model, resumed = train_classifier(tmp_path / "interrupted")
    assert resumed.resumed_from == 1

    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    assert resumed.history.drop(columns="seconds").equals(result.history.drop(columns="seconds"))
    assert resumed.best_epoch == result.best_epoch
    saved_best = torch.load(result.best_path, weights_only=True)
    assert saved_best["epoch"] == result.best_epoch  # best.pt holds the best epoch's state
    assert result.history.loc[result.history["best"], "epoch"].iloc[-1] == result.best_epoch
    best_a = load_weights(build_classifier(), result.best_path).state_dict()
    best_b = load_weights(build_classifier(), resumed.best_path).state_dict()
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)

    # a finished run called again trains nothing and returns the same history
    _, again = train_classifier(tmp_path / "straight")
    assert again.resumed_from == 3
    assert again.history.equals(result.history)


def _keys(path):
    return set(torch.load(path, weights_only=True))


def test_a_complete_run_keeps_weights_only_and_one_file_when_best_is_last(tmp_path, monkeypatch):
    scores = iter([0.0, 1.0])  # epoch 2, the last, is the best
    monkeypatch.setattr(train_module, "selection_score", lambda *args: next(scores))
    config = TrainConfig(epochs=2, batch_size=4)
    with pytest.raises(Interrupted):  # mid-run: the full state, to resume from
        train_classifier(tmp_path, config=config, on_epoch_end=stop_after_first_epoch)
    full_size = (tmp_path / "last.pt").stat().st_size
    assert set(RESUME_KEYS) <= _keys(tmp_path / "last.pt")

    model, result = train_classifier(tmp_path, config=config)  # resumes, completes
    assert result.resumed_from == 1 and result.best_epoch == 2
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["best.pt"]
    assert result.last_path == result.best_path
    assert not set(RESUME_KEYS) & _keys(result.best_path)
    assert {"model", "epoch", "history", "fingerprint"} <= _keys(result.best_path)
    # weights only: AdamW's two moments per weight were two thirds of the file
    assert result.best_path.stat().st_size < 0.4 * full_size
    again_model, again = train_classifier(tmp_path, config=config)  # lean: read back
    assert again.resumed_from == 2 and again.history.equals(result.history)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again_model.state_dict()[key]), key


def test_a_complete_run_with_an_earlier_best_keeps_two_lean_files(tmp_path, monkeypatch):
    scores = iter([1.0, 0.0, 0.0])  # epoch 1 is the best, epoch 3 the last
    monkeypatch.setattr(train_module, "selection_score", lambda *args: next(scores))
    model, result = train_classifier(tmp_path)
    assert result.best_epoch == 1 and result.last_path.name == "last.pt"
    for path, epoch in ((result.best_path, 1), (result.last_path, 3)):
        state = torch.load(path, weights_only=True)
        assert state["epoch"] == epoch and not set(RESUME_KEYS) & set(state)
    resumed_model, resumed = train_classifier(tmp_path)  # nothing left to train
    assert resumed.resumed_from == 3 and resumed.best_epoch == 1
    assert resumed.history.equals(result.history)
    assert torch.equal(resumed_model.fc.weight, model.fc.weight)  # the last epoch's


def test_finalise_is_idempotent_and_completes_a_half_finalised_folder(tmp_path):
    model = build_classifier()
    state = {"model": model.state_dict(), "optimizer": {"x": torch.ones(3)}, "epoch": 2,
             "scheduler": {}, "scaler": {}}  # fmt: skip
    writer = CheckpointWriter()
    writer.submit(state, tmp_path / "last.pt", tmp_path / "best.pt")  # best is last
    writer.close()
    assert (tmp_path / "best.pt").samefile(tmp_path / "last.pt")
    finalise(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["best.pt"]
    assert _keys(tmp_path / "best.pt") == {"model", "epoch"}
    assert finalise(tmp_path) == tmp_path / "best.pt"  # again: nothing changes
    loaded = load_weights(build_classifier(), tmp_path / "best.pt").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_epochs_before_the_last_are_written_only_when_due(tmp_path, monkeypatch):
    monkeypatch.setattr("time.perf_counter", lambda: 0.0)
    writer = CheckpointWriter(every_s=3600)
    assert not writer.due(final=False) and writer.due(final=True)
    assert CheckpointWriter(every_s=0).due(final=False)
    monkeypatch.setattr("time.perf_counter", lambda: 3600.0)
    assert writer.due(final=False)  # an hour since the start
    writer.submit({"epoch": 1}, tmp_path / "last.pt", None)
    monkeypatch.setattr("time.perf_counter", lambda: 3610.0)
    assert not writer.due(final=False) and writer.due(final=True)
    monkeypatch.setattr("time.perf_counter", lambda: 7300.0)
    assert writer.due(final=False)
    writer.close()


def test_an_improving_epoch_is_held_in_memory_and_written_with_a_later_one(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr("mpirad.tomo.checkpoints._save",
                        lambda state, path: saved.append((path.name, state["epoch"])))  # fmt: skip
    scores = iter([0.0, 1.0, 2.0, 1.5])  # epochs 2 and 3 improve, 4 does not
    monkeypatch.setattr(train_module, "selection_score", lambda *args: next(scores))
    monkeypatch.setattr(train_module, "finalise", lambda folder: folder / "last.pt")
    train_classifier(tmp_path, config=TrainConfig(epochs=4, batch_size=4))
    assert saved == [("last.pt", 4), ("best.pt", 3)]  # one write at the end, best beside it


def test_an_early_best_is_on_disk_and_lean_after_the_run(tmp_path, monkeypatch):
    scores = iter([1.0, 0.0, 0.5])  # epoch 1 is the best
    monkeypatch.setattr(train_module, "selection_score", lambda *args: next(scores))
    model, result = train_classifier(tmp_path)
    state = torch.load(result.best_path, weights_only=True)
    assert state["epoch"] == 1 and not set(RESUME_KEYS) & set(state)
    assert [row[-1] for row in state["history"]] == [True]  # the history up to epoch 1


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    config = TrainConfig(epochs=1, batch_size=4)
    a, _ = train_classifier(tmp_path / "a", config=config, seed=1)
    b, _ = train_classifier(tmp_path / "b", config=config, seed=1)
    c, _ = train_classifier(tmp_path / "c", config=config, seed=2)
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_checkpoints_of_another_run_are_refused(tmp_path):
    train_classifier(tmp_path, config=TrainConfig(epochs=1, batch_size=4))
    with pytest.raises(CheckpointMismatchError, match="checkpoint of another run"):
        train_classifier(tmp_path, config=TrainConfig(epochs=2, batch_size=4))


def test_segmenter_learns_a_square(tmp_path):
    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(8, 32, 32, dtype=torch.bool)
    for i in range(8):
        top, left = torch.randint(4, 20, (2,), generator=generator).tolist()
        masks[i, top : top + 8, left : left + 8] = True
    images = masks[:, None].float() + 0.1 * torch.rand(8, 1, 32, 32, generator=generator)
    seed_everything(0)
    model = build_segmenter()
    result = train_model(
        model,
        task="segmentation",
        train_inputs=images[:6],
        train_targets=masks[:6],
        validation_inputs=images[6:],
        validation_targets=masks[6:],
        config=TrainConfig(epochs=4, batch_size=3, learning_rate=3e-3),
        checkpoint_dir=tmp_path,
        device="cpu",
        progress=False,
    )
    losses = result.history["train_loss"].tolist()
    assert losses[-1] < losses[0]


def test_epoch_batches_are_a_seeded_permutation_without_singletons():
    batches = list(epoch_batches(10, 4, seed=1, epoch=2))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    again = list(epoch_batches(10, 4, seed=1, epoch=2))
    assert all(torch.equal(x, y) for x, y in zip(batches, again, strict=True))
    other = torch.cat(list(epoch_batches(10, 4, seed=1, epoch=3)))
    assert not torch.equal(torch.cat(batches), other)
    assert [len(b) for b in epoch_batches(9, 4, seed=0, epoch=1)] == [4, 4]


def test_n_batches_counts_what_epoch_batches_yields():
    for n_items in range(1, 30):
        for batch_size in (2, 3, 4, 16):
            expected = len(list(epoch_batches(n_items, batch_size, seed=0, epoch=1)))
            assert n_batches(n_items, batch_size) == expected, (n_items, batch_size)


ONE_CYCLE = TrainConfig(epochs=3, batch_size=4, learning_rate=2e-3, schedule="one-cycle")


def test_one_cycle_warms_up_then_anneals_per_step_and_resumes_exactly(tmp_path):
    model, result = train_classifier(tmp_path / "straight", config=ONE_CYCLE)
    rates = result.history["learning_rate"].tolist()  # at each epoch's first step
    peak, start = ONE_CYCLE.learning_rate, ONE_CYCLE.learning_rate / 25
    assert rates[0] == pytest.approx(start)  # warm-up from max_lr / 25
    assert rates[1] > rates[0] and rates[2] < rates[1] < peak  # up, then down
    # per step: 2 batches per epoch, warm-up over 25% of the 6 steps ends at step 1.5
    with pytest.raises(Interrupted):
        train_classifier(tmp_path / "cut", config=ONE_CYCLE, on_epoch_end=stop_after_first_epoch)
    resumed_model, resumed = train_classifier(tmp_path / "cut", config=ONE_CYCLE)
    assert resumed.resumed_from == 1
    assert resumed.history.drop(columns="seconds").equals(result.history.drop(columns="seconds"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


@pytest.mark.parametrize("n_train", [2, 3, 4, 5, 6, 8, 9])
def test_one_cycle_of_a_few_steps_anneals_without_error(n_train):
    config = TrainConfig(epochs=2, batch_size=2, schedule="one-cycle")
    model = torch.nn.Linear(2, 1)
    optimisation = train_module._Optimisation.build(model, config, torch.device("cpu"), n_train)
    steps = 2 * n_batches(n_train, 2)
    rates = []
    for _ in range(steps):
        rates.append(optimisation.optimizer.param_groups[0]["lr"])
        optimisation.optimizer.step()
        if optimisation.per_step:
            optimisation.scheduler.step()
    assert optimisation.per_step == (steps >= train_module.ONE_CYCLE_MIN_STEPS)
    if optimisation.per_step:  # up from max_lr / 25, then down below where it started
        assert rates[0] == pytest.approx(config.learning_rate / 25)
        assert max(rates) > rates[0] > rates[-1]


def test_a_schedule_and_warmup_are_checked():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="warmup_fraction"):
        TrainConfig(schedule="one-cycle", warmup_fraction=1.0)


def test_cpu_bfloat16_training_is_seeded_and_changes_the_arithmetic_where_native(tmp_path):
    config = TrainConfig(epochs=1, batch_size=4, cpu_bfloat16=True)
    first, a = train_classifier(tmp_path / "a", config=config)
    second, b = train_classifier(tmp_path / "b", config=config)
    plain, c = train_classifier(tmp_path / "c", config=TrainConfig(epochs=1, batch_size=4))
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    weights = first.state_dict(), second.state_dict(), plain.state_dict()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert all(v.dtype != torch.bfloat16 for v in weights[0].values())  # kept float32
    same_as_float32 = all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert same_as_float32 == (not native_cpu_bfloat16())


def test_segmentation_loss_is_small_for_a_perfect_prediction():
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 2:5] = True
    perfect = torch.where(masks, 20.0, -20.0)[:, None]
    wrong = -perfect
    assert float(segmentation_loss(perfect, masks)) < 1e-3
    assert float(segmentation_loss(wrong, masks)) > 10


def test_flip_augment_moves_masks_with_images_and_is_seeded():
    images = torch.zeros(64, 1, 8, 8)
    images[:, 0, 1, 2] = 1.0  # one bright pixel, off-centre
    masks = images[:, 0] > 0
    labels = torch.arange(64) % 2
    flipped, flipped_masks = flip_augment(images, masks, seed=3, epoch=1, step=0)
    assert torch.equal(flipped_masks, flipped[:, 0] > 0)  # masks follow their images
    positions = {tuple(torch.nonzero(m)[0].tolist()) for m in flipped_masks}
    assert positions == {(1, 2), (1, 5), (6, 2), (6, 5)}  # all four flips drawn
    assert torch.equal(images[:, 0, 1, 2], torch.ones(64))  # the input is untouched
    _, same_labels = flip_augment(images, labels, seed=3, epoch=1, step=0)
    assert torch.equal(same_labels, labels)
    again, _ = flip_augment(images, masks, seed=3, epoch=1, step=0)
    other, _ = flip_augment(images, masks, seed=3, epoch=1, step=1)
    assert torch.equal(again, flipped) and not torch.equal(other, flipped)
