/* SPDX-License-Identifier: MIT */
/*
 * jc/later.h: runs a function on a later turn of a loop. The library's one re-entrancy rule
 * (docs/ARCHITECTURE.md, "Callbacks"): a callback never runs inside the call that asked for it.
 * An asynchronous call either refuses the request at once (it returns an error and never calls
 * back) or accepts it and calls back exactly once, later, on the loop thread, whatever happens;
 * an answer known at once (nothing to flush, a numeric address, a request that failed before it
 * started) goes through jc_later.
 */
#ifndef JC_LATER_H
#define JC_LATER_H

#include <event2/event.h>

/*
 * Calls fn(arg) once on base's loop thread, on the loop's next turn, never inside this call.
 * Remembering the call needs a few bytes; when even those cannot be had the process stops
 * (abort) rather than break the promise of a callback.
 */
void jc_later(struct event_base *base, void (*fn)(void *arg), void *arg);

#endif
