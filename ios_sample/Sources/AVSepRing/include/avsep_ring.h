// A single-producer single-consumer ring of float samples for a real-time audio thread: the writer never takes a
// lock, never allocates and never waits (what does not fit is counted as dropped); C11 atomics, so it builds for
// iOS, macOS and Linux and is tested here (parity_tests/test_sample_apps.py runs it under two threads).
#ifndef AVSEP_RING_H
#define AVSEP_RING_H

#include <stddef.h>
#include <stdint.h>

// Opaque, so Swift sees a pointer (it cannot import a struct with _Atomic fields).
typedef struct avsep_ring avsep_ring;

// Allocates a ring of capacity samples: call before audio starts, never on the real-time thread. NULL on failure.
avsep_ring *avsep_ring_create(size_t capacity);
void avsep_ring_destroy(avsep_ring *ring);

// Producer (real-time thread): frames samples, `stride` floats apart (1: one channel of a deinterleaved buffer;
// N: channel 0 of N interleaved); `stamp` the block's host time (recorded once, for the first block). Returns
// how many fitted; the rest are added to `dropped`.
size_t avsep_ring_write(avsep_ring *ring, const float *samples, size_t frames, size_t stride, uint64_t stamp);

// Consumer (one worker thread): up to max samples, oldest first. Returns how many.
size_t avsep_ring_read(avsep_ring *ring, float *out, size_t max);

size_t avsep_ring_dropped(avsep_ring *ring);
uint64_t avsep_ring_first_stamp(avsep_ring *ring);

// Consumer side, between streams (the producer stopped): empties the ring and clears the counters.
void avsep_ring_clear(avsep_ring *ring);

#endif
