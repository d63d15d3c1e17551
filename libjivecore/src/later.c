/* SPDX-License-Identifier: MIT */
/* later.c: a function run on the next turn of the loop (event_base_once). */
#include <stdio.h>
#include <stdlib.h>

#include "jc/later.h"

struct later {
    void (*fn)(void *arg);
    void *arg;
};

static void run(evutil_socket_t fd, short what, void *p)
{
    struct later l = *(struct later *)p;

    (void)fd;
    (void)what;
    free(p);
    l.fn(l.arg);
}

void jc_later(struct event_base *base, void (*fn)(void *arg), void *arg)
{
    struct later *l = malloc(sizeof(*l));
    struct timeval now = {0, 0};

    if (l != NULL) {
        l->fn = fn;
        l->arg = arg;
        if (event_base_once(base, -1, EV_TIMEOUT, run, l, &now) == 0)
            return;
        free(l);
    }
    fputs("jive: out of memory while deferring a callback\n", stderr);
    abort();
}
