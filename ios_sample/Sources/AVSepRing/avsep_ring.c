// The SPSC sample ring of include/avsep_ring.h: each side owns one counter and reads the other's with acquire
// ordering, so the samples a count covers are visible before the count is.
#include "avsep_ring.h"

#include <stdatomic.h>
#include <stdlib.h>

struct avsep_ring {
    float *data;
    size_t capacity;
    _Atomic size_t written;        // samples ever written (the producer's count)
    _Atomic size_t read;           // samples ever read (the consumer's count)
    _Atomic size_t dropped;        // samples the producer had no room for
    _Atomic uint64_t first_stamp;  // the first written block's stamp (host time), 0 until then
};

avsep_ring *avsep_ring_create(size_t capacity) {
    avsep_ring *ring = malloc(sizeof *ring);
    if (ring == NULL) return NULL;
    ring->data = capacity ? calloc(capacity, sizeof(float)) : NULL;
    if (ring->data == NULL) {
        free(ring);
        return NULL;
    }
    ring->capacity = capacity;
    atomic_init(&ring->written, 0);
    atomic_init(&ring->read, 0);
    atomic_init(&ring->dropped, 0);
    atomic_init(&ring->first_stamp, 0);
    return ring;
}

void avsep_ring_destroy(avsep_ring *ring) {
    if (ring == NULL) return;
    free(ring->data);
    free(ring);
}

size_t avsep_ring_write(avsep_ring *ring, const float *samples, size_t frames, size_t stride, uint64_t stamp) {
    uint64_t none = 0;
    if (stamp != 0) atomic_compare_exchange_strong_explicit(&ring->first_stamp, &none, stamp, memory_order_relaxed, memory_order_relaxed);
    size_t w = atomic_load_explicit(&ring->written, memory_order_relaxed);
    size_t r = atomic_load_explicit(&ring->read, memory_order_acquire);
    size_t room = ring->capacity - (w - r);
    size_t n = frames < room ? frames : room;
    for (size_t i = 0; i < n; i++) ring->data[(w + i) % ring->capacity] = samples[i * stride];
    atomic_store_explicit(&ring->written, w + n, memory_order_release);
    if (n < frames) atomic_fetch_add_explicit(&ring->dropped, frames - n, memory_order_relaxed);
    return n;
}

size_t avsep_ring_read(avsep_ring *ring, float *out, size_t max) {
    size_t r = atomic_load_explicit(&ring->read, memory_order_relaxed);
    size_t w = atomic_load_explicit(&ring->written, memory_order_acquire);
    size_t n = w - r < max ? w - r : max;
    for (size_t i = 0; i < n; i++) out[i] = ring->data[(r + i) % ring->capacity];
    atomic_store_explicit(&ring->read, r + n, memory_order_release);
    return n;
}

size_t avsep_ring_dropped(avsep_ring *ring) { return atomic_load_explicit(&ring->dropped, memory_order_relaxed); }

uint64_t avsep_ring_first_stamp(avsep_ring *ring) { return atomic_load_explicit(&ring->first_stamp, memory_order_relaxed); }

void avsep_ring_clear(avsep_ring *ring) {
    atomic_store_explicit(&ring->read, atomic_load_explicit(&ring->written, memory_order_acquire), memory_order_release);
    atomic_store_explicit(&ring->dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&ring->first_stamp, 0, memory_order_relaxed);
}
