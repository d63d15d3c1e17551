/* SPDX-License-Identifier: MIT */
/*
 * jc/proc.h: child processes watched by the event loop (git for the orchestrator's
 * workspaces). An argument vector, never a shell; its own process group, killed whole on
 * timeout; stdin fed from a buffer; stdout and stderr collected up to a limit. The loop never
 * blocks: pipes are non-blocking and the exit is reaped with WNOHANG.
 */
#ifndef JC_PROC_H
#define JC_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "jc/err.h"

struct jc_proc;

struct jc_proc_result {
    int exit_code;   /* exit status, or 128 + signal when killed */
    bool timed_out;  /* killed by the timeout */
    const char *out; /* stdout (NUL-terminated; truncated at max_output) */
    size_t out_len;
    const char *err; /* stderr, likewise (at most 64 KiB kept) */
    size_t err_len;
    bool truncated; /* stdout exceeded max_output: the rest was discarded */
};

/* Called exactly once when the child has exited and its output is read (or it could not
 * start: then exit_code is 127 and err says why). res is valid only during the call. */
typedef void jc_proc_cb(const struct jc_proc_result *res, void *ud);

struct jc_proc_opts {
    const char *const *argv; /* argv[0] is looked up on PATH; NULL-terminated */
    const char *const *env;  /* extra NAME=value entries added to the environment, or NULL */
    const char *cwd;         /* working directory, or NULL */
    const char *input;       /* written to stdin, then stdin is closed; NULL: empty stdin */
    size_t input_len;
    long timeout_ms;   /* 0: no timeout */
    size_t max_output; /* stdout limit in bytes (0: 16 MiB) */
};

/*
 * Starts the child. Returns JC_OK (cb will be called) or JC_EINVAL/JC_EIO/JC_ENOMEM when the
 * child could not be started (cb is not called). On the loop thread of base.
 */
enum jc_err jc_proc_run(struct event_base *base, const struct jc_proc_opts *o, jc_proc_cb *cb,
                        void *ud) JC_MUSTCHECK;

#endif
