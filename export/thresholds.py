"""Parity gates: the one place export and parity_tests read them from.

An exported model passes when every gated output of the streamed test vectors
reaches the threshold of its precision against the float PyTorch reference.
"""

# fp32 (TFLite, ONNX, CoreML fp32): SNR of each output vs float torch
FP32_MIN_SNR_DB = 60.0
# fp16 (CoreML fp16 compute, TFLite fp16 weights): peak SNR, as whisperkittools gates
FP16_MIN_PSNR_DB = 40.0

# int8 (static W8A8 TFLite/ONNX): SNR of each output vs float torch over the
# streamed test vectors (the mobile model measures about 25-35 dB)
INT8_MIN_SNR_DB = 15.0
# the int8 task gate: mean SI-SNR improvement on held-out mixtures (4 s each,
# streamed through the exported runner) at most this far below float
INT8_MAX_SISNRI_DROP_DB = 0.5
INT8_GATE_SECONDS = 4.0
# int4 (4-bit weights of the Linear layers, quantize/int4.py): SNR of each
# output vs float torch over the streamed test vectors. Four bits put about
# 24 dB more noise on each weight than eight; the shipped mobile model measures
# 35-36 dB on the speakers and 27-29 dB on lip_emb (android, onnx), so the gate
# sits below both with room for a CPU's rounding, and a damaged 4-bit weight
# (parity_tests/test_int4.py) falls far under it.
INT4_MIN_SNR_DB = 15.0
# the int4 task gate: the same held-out mixtures and bound as int8's (a
# quarter of the weights' bytes may not cost the task more than int8 may)
INT4_MAX_SISNRI_DROP_DB = 0.5
# the precisions whose export runs the task gate, and its bound for each
TASK_MAX_SISNRI_DROP_DB = {"int8": INT8_MAX_SISNRI_DROP_DB, "int4": INT4_MAX_SISNRI_DROP_DB}

# closed-loop drift: output SNR vs float at the end of a stream may be at most
# this much below its start (steps 90-100 vs 1-10 in tests, 10 s windows of a
# >= 60 s stream in the report)
INT8_MAX_DRIFT_DB = 6.0

# states held inside the runtime (runners' held_state, CoreML states at fp32
# storage) vs the same model fed explicit states, per output over a stream
HELD_STATE_MIN_SNR_DB = 100.0
# CoreML states are fp16 storage only: caches held as states vs fed back as
# fp32 I/O by the same fp16-compute package round once more per step (the
# tiny fp16 package measures about 54 dB, README's CoreML table)
COREML_STATE_MIN_SNR_DB = 50.0

# The residual (delayed mixture minus the speakers) is reported, not gated: it
# carries the speakers' absolute error over a much smaller signal, so a trained
# model that leaves little residual shows a low relative SNR there (shipped
# mobile, TFLite fp32: speakers 69.9 dB, residual 47.8 dB, same max abs error).
GATED_OUTPUTS = ("speakers", "lip_emb")


def gate(precision: str) -> tuple[str, float]:
    """(metric name, minimum) for a precision."""
    if precision == "fp32":
        return "snr_db", FP32_MIN_SNR_DB
    if precision == "fp16":
        return "psnr_db", FP16_MIN_PSNR_DB
    if precision == "int8":
        return "snr_db", INT8_MIN_SNR_DB
    if precision == "int4":
        return "snr_db", INT4_MIN_SNR_DB
    raise ValueError(f"no parity gate for precision {precision!r}")

# device reports (the sample apps) give SNR only: fp16/int8 phones are held to this
DEVICE_MIN_SNR_DB = {"fp32": FP32_MIN_SNR_DB, "fp16": 30.0, "int8": 20.0, "int4": INT4_MIN_SNR_DB}


def device_min_snr_db(precision: str) -> float:
    return DEVICE_MIN_SNR_DB[precision]

# the fp16 census (export/census.py): a tensor of an fp16 export falls in the
# subnormal range when more than this share of its nonzero values are fp16
# subnormals, or they carry more than this much of its energy. A tensor whose
# values live there shows most of them (the mel power before the signal path
# went fp32: 73 % at -20 dBFS); a signed activation or a softmax's far tail
# leaves up to 12 % there (shipped model, -60 dBFS to loud), carrying under
# -80 dB of the tensor's energy.
CENSUS_MAX_SUBNORMAL_SHARE = 0.25
CENSUS_MAX_SUBNORMAL_ENERGY_DB = -60.0
