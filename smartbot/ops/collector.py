"""The cyclic garbage collector in a worker: fewer and shorter pauses of the whole process.

A collection holds the GIL, so every request of the worker waits it out. Under a burst the
defaults (a young collection every 700 new objects) ran one every millisecond or two; what they
found alive (the requests in flight, messages on their way through the spool) moved up a
generation, and a full collection followed every couple of seconds, 15-50 ms each, walking
everything the worker had made since the fork. Six such pauses in 10 s, each holding up the ~50
requests in the worker, are about 1% of its acknowledgements: the p99.

So, once the worker has built its app: its objects so far (the app, its pools, compiled queries)
are moved out of the collector's sight (gc.freeze(), as the master does before forking), and the
young generation is collected every YOUNG_THRESHOLD new objects instead. Measured with
bench/ingest.py's load, alternating: the collector's time per worker in 10 s went from 150-340 ms
to 85-100 ms, and wrk's p99 from 43-61 ms to 40-42 ms. Garbage in cycles waits a little longer to be
freed; at 50,000 objects that is a few megabytes at most.
"""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20             # young collections per middle one
OLD_THRESHOLD = 10                # middle collections per full one (which also needs 25% growth)


def settle_worker() -> None:
    """Call once the worker's app is built, before it serves."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
