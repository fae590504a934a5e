"""Parity gates: the one place export and parity_tests read them from.

An exported model passes when every gated output of the streamed test vectors
reaches the threshold of its precision against the float PyTorch reference.
"""

# fp32 (TFLite, ONNX, CoreML fp32): SNR of each output vs float torch
FP32_MIN_SNR_DB = 60.0
# fp16 (CoreML fp16 compute, TFLite fp16 weights): peak SNR, as whisperkittools gates
FP16_MIN_PSNR_DB = 40.0

GATED_OUTPUTS = ("speakers", "residual", "lip_emb")


def gate(precision: str) -> tuple[str, float]:
    """(metric name, minimum) for a precision."""
    if precision == "fp32":
        return "snr_db", FP32_MIN_SNR_DB
    if precision == "fp16":
        return "psnr_db", FP16_MIN_PSNR_DB
    raise ValueError(f"no parity gate for precision {precision!r}")

# device reports (the sample apps) give SNR only: fp16/int8 phones are held to this
DEVICE_MIN_SNR_DB = {"fp32": FP32_MIN_SNR_DB, "fp16": 30.0, "int8": 20.0}


def device_min_snr_db(precision: str) -> float:
    return DEVICE_MIN_SNR_DB[precision]
