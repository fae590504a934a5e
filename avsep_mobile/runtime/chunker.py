"""An app's audio buffers, of whatever length the platform delivers, into the
fixed chunks av_step takes, and the flush at the end of a stream.

This is the rule the sample apps implement in their `Separator.process` /
`flush` (and the "chunking" cases of avsep_mobile.app_cases): samples are
queued; every time chunk_samples of them are queued one chunk goes out;
`flush(output_delay_samples)` appends flush_samples zeros (the fewest
that make whole chunks and push every real sample out of the overlap-add
buffer, signature.stream_chunks). The separated PCM is then the input delayed
by output_delay_samples, and a stream fed through it equals the offline
reference (tests/test_chunker.py).
"""

from __future__ import annotations

import numpy as np


def flush_samples(received: int, chunk_samples: int, output_delay_samples: int) -> int:
    """Zeros to feed at the end of a stream of `received` samples so every real
    sample leaves the overlap-add buffer (signature.stream_chunks)."""
    total = -(-(received + output_delay_samples) // chunk_samples) * chunk_samples
    return total - received


class Chunker:
    """>>> ch = Chunker(chunk_samples=160, hop_samples=160)
    >>> chunks = ch.push(buffer)        # 0 or more (chunk_samples,) float32 arrays
    >>> tail = ch.flush(240)            # output_delay_samples: the rest and the flush; then a new stream
    """

    def __init__(self, chunk_samples: int, hop_samples: int = 160):
        if chunk_samples < 1 or hop_samples < 1:
            raise ValueError(f"chunk and hop sizes must be >= 1 (got {chunk_samples}, {hop_samples})")
        self.chunk_samples, self.hop_samples = chunk_samples, hop_samples
        self._pending = np.zeros(0, np.float32)  # always shorter than one chunk
        self.received = 0  # samples pushed since the stream began

    @property
    def pending(self) -> int:
        """Samples queued, waiting for a full chunk."""
        return len(self._pending)

    def push(self, samples) -> list[np.ndarray]:
        x = np.asarray(samples, np.float32).reshape(-1)
        self.received += len(x)
        buf = np.concatenate([self._pending, x]) if len(self._pending) else x
        whole = len(buf) // self.chunk_samples * self.chunk_samples
        chunks = [buf[i : i + self.chunk_samples].copy() for i in range(0, whole, self.chunk_samples)]
        self._pending = buf[whole:].copy()
        return chunks

    def flush(self, output_delay_samples: int) -> list[np.ndarray]:
        """The queued samples and the flush zeros, as whole chunks; the
        chunker is then ready for a new stream."""
        if output_delay_samples < 0:
            raise ValueError(f"output_delay_samples must be >= 0, got {output_delay_samples}")
        total = len(self._pending) + flush_samples(self.received, self.chunk_samples, output_delay_samples)
        tail = np.zeros(total, np.float32)
        tail[: len(self._pending)] = self._pending
        self._pending, self.received = np.zeros(0, np.float32), 0
        return [tail[i : i + self.chunk_samples] for i in range(0, total, self.chunk_samples)]
