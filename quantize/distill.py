"""Distillation: a student learns from the clean sources and from a teacher's
masks and outputs. Used to train `mobile` from a larger model and to win back
quality after pruning. Runs under torchrun like `avsep train`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avsep_mobile.metrics import si_snr
from avsep_mobile.model import AVSep
from avsep_mobile.train import TrainConfig, separate_batch, separation_loss, train


@dataclass
class DistillWeights:
    sources: float = 1.0  # -SI-SNR + spectral loss against the clean speakers
    outputs: float = 0.5  # -SI-SNR against the teacher's separated PCM
    masks: float = 10.0  # L1 distance to the teacher's masks (values in [0, 1])
    # hidden-feature matching: MSE to the teacher's lip embeddings; needs the
    # same d_model (a pruned student keeps it; a smaller preset does not)
    features: float = 0.0


# a mixture quieter than this (RMS, dBFS) reaches the teacher raised to it, and
# the teacher's speakers come back scaled down: the teacher trained on mixtures
# down to about -30 dBFS (data.mixtures.LEVEL_DB) and separates quieter ones
# worse (2 dB of SI-SNRi at -45 dBFS), so a quiet mixture (--quiet) gets the
# teacher's best as its target; louder mixtures reach it as they are
TEACHER_MIN_RMS_DBFS = -30.0


class DistillObjective:
    """(student outputs, batch) -> (loss, SI-SNR to the sources); the teacher
    runs on the same batch without gradients."""

    def __init__(self, teacher: AVSep, tc: TrainConfig, weights: DistillWeights = DistillWeights(), student_width: int | None = None):
        if weights.features and student_width not in (None, teacher.cfg.d_model):
            raise ValueError(f"feature matching needs the teacher's width ({teacher.cfg.d_model}), the student has {student_width}: "
                             "use --features 0 for a smaller preset")
        self.teacher, self.tc, self.w = teacher.eval(), tc, weights
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def __call__(self, outputs, batch):
        est, _, masks, emb = outputs
        dev = est.device
        self.teacher.to(dev)
        with torch.no_grad():
            mix = batch["mix"].to(dev)
            rms = mix.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
            lift = (10 ** (TEACHER_MIN_RMS_DBFS / 20) / rms).clamp_min(1.0)  # (B, 1): 1 at usual levels
            t_est, _, t_masks, t_emb = separate_batch(self.teacher, mix * lift, batch["lips"].to(dev), float(batch["fps"][0]))
            t_est = t_est / lift.unsqueeze(-1)
        loss, snr = separation_loss(est, batch["sources"].to(dev), self.tc.spectral_weight)
        loss = self.w.sources * loss
        loss = loss - self.w.outputs * si_snr(est, t_est).mean()
        if masks.shape == t_masks.shape:  # a student at another frame rate (AVSep.with_hop) has other frames and bins
            loss = loss + self.w.masks * F.l1_loss(masks, t_masks)
        if self.w.features:
            loss = loss + self.w.features * F.mse_loss(emb, t_emb)
        return loss, snr


def distill(teacher: AVSep, student: AVSep, tc: TrainConfig, out_dir, data=None, log=print, on_step=None,
            weights: DistillWeights = DistillWeights()):
    """Train `student` (weights kept as the starting point) towards `teacher`."""
    return train(student.cfg, tc, out_dir, init=student, data=data, log=log, on_step=on_step,
                 objective=DistillObjective(teacher, tc, weights, student.cfg.d_model))
