"""Every quality metric in the project: training losses, eval and parity use these."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

EPS = 1e-8
CAP_DB = 300.0  # an exact match has infinite SNR; JSON has no infinity
# the top of each perceptual scale: wideband PESQ (ITU-T P.862.2 MOS-LQO, what the `pesq` package
# returns for identical signals) and extended STOI (a correlation, 1 for identical signals)
PESQ_WB_MAX = 4.644
ESTOI_MAX = 1.0


def capped_db(x: float) -> float:
    """A dB figure for a report: rounded, infinity capped at CAP_DB."""
    return round(min(float(x), CAP_DB), 3)


def si_snr(est: Tensor, ref: Tensor) -> Tensor:
    """Scale-invariant SNR in dB over the last axis (zero-mean), differentiable."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    proj = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + EPS) * ref
    noise = est - proj
    return 10 * torch.log10((proj.pow(2).sum(-1) + EPS) / (noise.pow(2).sum(-1) + EPS))


def snr_db(ref, out) -> float:
    """SNR of `out` against `ref` in dB over all elements (parity: export vs float)."""
    ref = np.asarray(ref, dtype=np.float64)
    err = ref - np.asarray(out, dtype=np.float64)
    num, den = float(np.sum(ref**2)), float(np.sum(err**2))
    if den == 0.0:
        return float("inf")
    return 10.0 * float(np.log10(max(num, 1e-30) / den))


def psnr_db(ref, out) -> float:
    """Peak SNR: peak of `ref` squared over the mean squared error."""
    ref = np.asarray(ref, dtype=np.float64)
    mse = float(np.mean((ref - np.asarray(out, dtype=np.float64)) ** 2))
    peak = float(np.max(np.abs(ref))) ** 2
    return float("inf") if mse == 0.0 else 10.0 * float(np.log10(max(peak, 1e-30) / mse))


def max_abs_err(ref, out) -> float:
    return float(np.max(np.abs(np.asarray(ref, np.float64) - np.asarray(out, np.float64))))


def si_snr_np(est, ref) -> float:
    return float(si_snr(torch.as_tensor(np.asarray(est, np.float64)), torch.as_tensor(np.asarray(ref, np.float64))))


def multires_stft_loss(est: Tensor, ref: Tensor, ffts=(256, 512, 1024)) -> Tensor:
    """Spectral convergence + log-magnitude L1 at several resolutions, (..., n) inputs."""
    est, ref = est.reshape(-1, est.shape[-1]), ref.reshape(-1, ref.shape[-1])
    loss = est.new_zeros(())
    for n in ffts:
        win = torch.hann_window(n, device=est.device)
        e = torch.stft(est, n, n // 4, window=win, return_complex=True).abs()
        r = torch.stft(ref, n, n // 4, window=win, return_complex=True).abs()
        sc = torch.linalg.norm(r - e) / (torch.linalg.norm(r) + EPS)
        mag = (torch.log(e + 1e-5) - torch.log(r + 1e-5)).abs().mean()
        loss = loss + sc + mag
    return loss / len(ffts)


def si_snri_np(est, sources, mix) -> float:
    """Mean SI-SNR improvement in dB: est (N, n) against sources (N, n), over
    the mixture (n,) as the estimate of every source."""
    ref = torch.as_tensor(np.asarray(sources, np.float64))
    gain = si_snr(torch.as_tensor(np.asarray(est, np.float64)), ref) - si_snr(torch.as_tensor(np.asarray(mix, np.float64)).expand_as(ref), ref)
    return float(gain.mean())


def pesq_wb(ref, est, sample_rate: int = 16000) -> float:
    """Wideband PESQ (ITU-T P.862.2, the `pesq` package) of est against ref,
    -0.5 .. PESQ_WB_MAX; NaN when ref holds no speech PESQ can find (a silent slot)."""
    from pesq import NoUtterancesError, pesq

    try:
        with np.errstate(invalid="ignore"):  # the package divides a silent signal by its zero peak first
            return float(pesq(sample_rate, np.asarray(ref, np.float64), np.asarray(est, np.float64), "wb"))
    except NoUtterancesError:
        return float("nan")


def estoi(ref, est, sample_rate: int = 16000) -> float:
    """Extended STOI (Jensen & Taal 2016, the `pystoi` package) of est against ref, up to ESTOI_MAX."""
    from pystoi import stoi

    return float(stoi(np.asarray(ref, np.float64), np.asarray(est, np.float64), sample_rate, extended=True))
