"""Structured pruning gives a really smaller dense model; distillation moves a
student towards its teacher."""

import numpy as np
import pytest
import torch

from avsep_mobile.info import model_info, weight_sparsity
from avsep_mobile.model import AVSep, preset
from avsep_mobile.quantize.distill import DistillObjective, DistillWeights, distill
from avsep_mobile.quantize.prune import (
    block_importance,
    drop_blocks,
    magnitude_prune,
    measure_importance,
    prune_to_budget,
    shrink,
)
from avsep_mobile.streaming import Streamer
from avsep_mobile.train import TrainConfig, separate_batch
from tests.test_cli_and_train import _synthetic_batches


def test_shrink_keeping_everything_is_the_same_model():
    torch.manual_seed(0)
    model = AVSep(preset("tiny")).eval()
    batch = next(_synthetic_batches())
    same = shrink(model, measure_importance(model, batch), 1.0)
    with torch.no_grad():
        a = separate_batch(model, batch["mix"], batch["lips"], 25.0)[0]
        b = separate_batch(same, batch["mix"], batch["lips"], 25.0)[0]
    assert torch.equal(a, b)


def test_pruned_model_is_smaller_and_streams():
    torch.manual_seed(0)
    model = AVSep(preset("mobile")).eval()
    small, report = prune_to_budget(model, next(_synthetic_batches()), 0.6, log=lambda m: None)
    before, after = model_info(model), model_info(small)
    assert after["parameters"]["total"] < 0.6 * before["parameters"]["total"]
    assert after["macs_per_second"]["total"] <= 0.6 * before["macs_per_second"]["total"]
    assert report["macs_after"] == after["macs_per_second"]["total"]
    st = Streamer(small, speakers=2)  # its own, smaller state shapes
    emb = st.lip(np.random.rand(2, 1, 88, 88).astype(np.float32))
    spk, res = st.av(np.random.randn(1, 160).astype(np.float32) * 0.1, emb, np.ones(2, np.float32))
    assert spk.shape == (2, 160) and np.isfinite(spk).all()


def test_removing_a_block_that_adds_nothing_keeps_the_output():
    """Zero the residual outputs of audio block 1 of 3: removing it (and
    renumbering block 2 and its state) must give exactly the same model."""
    from dataclasses import replace

    torch.manual_seed(0)
    model = AVSep(replace(preset("tiny"), audio_layers=3, fusion_layers=2)).eval()
    blk = model.audio.layers[1]
    with torch.no_grad():
        for lin in (blk.attn.out, blk.ffn[3]):
            lin.weight.zero_()
            lin.bias.zero_()
    batch = next(_synthetic_batches())
    small = drop_blocks(model, ["audio.layers.1"])
    assert small.cfg.audio_layers == 2 and model_info(small)["macs_per_second"]["total"] < model_info(model)["macs_per_second"]["total"]
    with torch.no_grad():
        a = separate_batch(model, batch["mix"], batch["lips"], 25.0)[0]
        b = separate_batch(small, batch["mix"], batch["lips"], 25.0)[0]
    assert torch.allclose(a, b, atol=1e-6)
    scores = block_importance(model, batch)
    assert sorted(scores) == ["audio.layers.0", "audio.layers.1", "audio.layers.2", "fusion.0", "fusion.1"]
    assert abs(scores["audio.layers.1"]) < 1e-4  # it really adds nothing
    pruned, report = prune_to_budget(model, batch, 0.9, blocks=1, log=lambda m: None)
    assert list(report["blocks_removed"]) == [min(scores, key=scores.get)]  # random weights: any block may matter least
    assert pruned.cfg.audio_layers + pruned.cfg.fusion_layers == 4
    assert report["params_before"] == sum(p.numel() for p in model.parameters()) > report["params_after"]
    assert report["si_snr_before_db"] != report["si_snr_after_db"]

    # a block named for its cost, the first fusion block (three per-slot attentions), at full widths
    named, report = prune_to_budget(model, batch, 1.0, drop=["fusion.0"], log=lambda m: None)
    assert named.cfg.fusion_layers == 1 and named.cfg.audio_layers == 3 and report["keep"] == 1.0
    assert list(report["blocks_removed"]) == ["fusion.0"]
    kept = {k.replace("fusion.1.", "fusion.0."): v for k, v in model.state_dict().items() if not k.startswith("fusion.0.")}
    assert all(torch.equal(v, kept[k]) for k, v in named.state_dict().items())  # the last block's weights, renumbered

    # the audio encoder may lose every attention (its CNN still feeds the fusion); a stack that must keep one may not
    bare = drop_blocks(model, ["audio.layers.0", "audio.layers.1", "audio.layers.2"])
    assert bare.cfg.audio_layers == 0 and len(bare.audio.layers) == 0
    assert torch.isfinite(separate_batch(bare, batch["mix"], batch["lips"], 25.0)[0]).all()
    lips_only_cnn = drop_blocks(model, [f"video.layers.{i}" for i in range(model.cfg.video_layers)])  # so may the lip encoder
    assert lips_only_cnn.cfg.video_layers == 0 and len(lips_only_cnn.video.layers) == 0
    assert torch.isfinite(separate_batch(lips_only_cnn, batch["mix"], batch["lips"], 25.0)[0]).all()
    with pytest.raises(ValueError, match="every block of fusion"):
        drop_blocks(model, ["fusion.0", "fusion.1"])


def test_magnitude_pruning_reaches_the_sparsity():
    model = magnitude_prune(AVSep(preset("tiny")), 0.5)
    assert 0.45 <= weight_sparsity(model) <= 0.55


def test_distillation_moves_the_student_towards_the_teacher(tmp_path):
    torch.manual_seed(0)
    teacher = AVSep(preset("tiny")).eval()
    student = AVSep(preset("tiny"))  # different random weights
    tc = TrainConfig(steps=10, batch=2, seconds=1.0, lr=2e-3, warmup=1, save_every=100)
    only_teacher = DistillWeights(sources=0.0)  # the loss is then a distance to the teacher
    objective = DistillObjective(teacher, tc, only_teacher)
    probe = next(_synthetic_batches(seed=5))

    def teacher_distance(model):
        with torch.no_grad():
            return float(objective(separate_batch(model.eval(), probe["mix"], probe["lips"], 25.0), probe)[0])

    before = teacher_distance(student)
    losses = []
    distill(teacher, student.train(), tc, tmp_path / "d", data=_synthetic_batches(), log=lambda m: None, on_step=losses.append,
            weights=only_teacher)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert teacher_distance(student) < before


def test_feature_matching_is_the_distance_between_lip_embeddings():
    from dataclasses import replace

    import pytest

    torch.manual_seed(0)
    teacher, student = AVSep(preset("tiny")).eval(), AVSep(preset("tiny")).eval()
    tc = TrainConfig(steps=1, batch=2, seconds=1.0)
    objective = DistillObjective(teacher, tc, DistillWeights(sources=0.0, outputs=0.0, masks=0.0, features=1.0), student.cfg.d_model)
    batch = next(_synthetic_batches(seed=3))
    with torch.no_grad():
        out = separate_batch(student, batch["mix"], batch["lips"], 25.0)
        t_emb = separate_batch(teacher, batch["mix"], batch["lips"], 25.0)[3]
        loss = objective(out, batch)[0]
    assert torch.allclose(loss, torch.nn.functional.mse_loss(out[3], t_emb)) and loss > 0
    with pytest.raises(ValueError, match="width"):
        DistillObjective(teacher, tc, DistillWeights(features=1.0), replace(preset("tiny"), d_model=48).d_model)


def test_a_quiet_mixture_reaches_the_teacher_at_its_trained_level(monkeypatch):
    """Below TEACHER_MIN_RMS_DBFS the teacher hears the mixture raised to it
    and its speakers come back at the mixture's level; louder mixtures reach
    it unchanged."""
    import avsep_mobile.quantize.distill as distill_module

    torch.manual_seed(0)
    teacher = AVSep(preset("tiny")).eval()
    objective = DistillObjective(teacher, TrainConfig(steps=1, batch=2, seconds=1.0), DistillWeights(sources=0.0, masks=0.0))
    batch = next(_synthetic_batches(seed=3))
    heard = []
    real = distill_module.separate_batch

    def spy(model, mix, lips, fps):
        if model is teacher:
            heard.append(mix.clone())
        return real(model, mix, lips, fps)

    monkeypatch.setattr(distill_module, "separate_batch", spy)
    rms_db = lambda x: 20 * torch.log10(x.pow(2).mean(-1).sqrt())  # noqa: E731
    for level_db in (-60.0, -20.0):
        quiet = dict(batch, mix=batch["mix"] / batch["mix"].pow(2).mean(-1, keepdim=True).sqrt() * 10 ** (level_db / 20))
        with torch.no_grad():
            objective(separate_batch(teacher, quiet["mix"], quiet["lips"], 25.0), quiet)
        expect = max(level_db, distill_module.TEACHER_MIN_RMS_DBFS)
        assert torch.allclose(rms_db(heard[-1]), torch.full((2,), expect), atol=0.01)


def test_a_student_at_half_the_frame_rate_learns_from_the_teachers_outputs():
    """A with_hop student has other frames and bins than its teacher: the
    objective leaves the mask term out and is the output distance alone."""
    from avsep_mobile.metrics import si_snr

    torch.manual_seed(0)
    teacher = AVSep(preset("tiny")).eval()
    student = teacher.with_hop(2 * teacher.cfg.hop_length).eval()
    tc = TrainConfig(steps=1, batch=2, seconds=1.0)
    objective = DistillObjective(teacher, tc, DistillWeights(sources=0.0, outputs=1.0, masks=10.0))
    batch = next(_synthetic_batches(seed=3))
    with torch.no_grad():
        out = separate_batch(student, batch["mix"], batch["lips"], 25.0)
        t_est = separate_batch(teacher, batch["mix"], batch["lips"], 25.0)[0]
        assert out[2].shape[-1] == 2 * teacher.cfg.n_bins - 1
        torch.testing.assert_close(objective(out, batch)[0], -si_snr(out[0], t_est).mean())
