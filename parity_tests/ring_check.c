// Drives ios_sample's SPSC ring (Sources/AVSepRing) from two threads, as the audio thread and the worker do:
// a producer writes channel 0 of interleaved stereo blocks numbered 1, 2, 3..., a consumer reads in other block
// sizes. Prints "written W read R dropped D gaps G" and exits 1 if a sample came out of order or duplicated, or if
// the samples missing from the sequence are not exactly the dropped count. (test_sample_apps.py compiles and runs it.)
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "avsep_ring.h"

enum { BLOCKS = 20000, FRAMES = 96, CAPACITY = 1000 };
static avsep_ring *ring;
static atomic_int done;

static void *produce(void *arg) {
    (void)arg;
    float block[2 * FRAMES];
    float next = 1;
    for (int b = 0; b < BLOCKS; b++) {
        for (int i = 0; i < FRAMES; i++) {
            block[2 * i] = next++;
            block[2 * i + 1] = -1;  // channel 1: must never come out
        }
        avsep_ring_write(ring, block, FRAMES, 2, 1000 + (uint64_t)b);
        if (b % 7 == 0) nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    atomic_store(&done, 1);
    return NULL;
}

int main(void) {
    if ((ring = avsep_ring_create(CAPACITY)) == NULL) return 2;
    pthread_t producer;
    pthread_create(&producer, NULL, produce, NULL);
    float out[77];
    float last = 0;
    size_t read = 0, gaps = 0;
    int bad = 0;
    for (;;) {
        int finished = atomic_load(&done);
        size_t n = avsep_ring_read(ring, out, sizeof out / sizeof out[0]);
        for (size_t i = 0; i < n; i++) {
            if (out[i] <= last) bad = 1;  // out of order, repeated, or channel 1
            gaps += (size_t)(out[i] - last - 1);
            last = out[i];
        }
        read += n;
        if (finished && n == 0) break;
        if (n == 0) nanosleep(&(struct timespec){0, 50000}, NULL);
    }
    pthread_join(producer, NULL);
    size_t written = (size_t)BLOCKS * FRAMES, dropped = avsep_ring_dropped(ring);
    gaps += (size_t)(written - last);  // dropped at the very end
    printf("written %zu read %zu dropped %zu gaps %zu first_stamp %llu\n", written, read, dropped, gaps,
           (unsigned long long)avsep_ring_first_stamp(ring));
    int first_block_stamped = avsep_ring_first_stamp(ring) == 1000;
    avsep_ring_destroy(ring);
    return bad || read + dropped != written || gaps != dropped || !first_block_stamped ? 1 : 0;
}
