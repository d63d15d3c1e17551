/* SPDX-License-Identifier: MIT */
/*
 * harness.h: runs a whole service (jc_app_main with its setup, from the service's archive) on a
 * thread of the fuzzing process
 * and sends it one HTTP request per input, over loopback, reading the answer to the end.
 *
 * An input is "header lines\n\nbody": the harness writes the request line, Host, Content-Length
 * (of the body) and Connection: close itself, then the input's header lines (CR and NUL bytes
 * dropped, lines without a colon skipped), then the body. Postgres and Redis point at closed
 * loopback ports, so every path that needs them meets "unavailable" instead of blocking.
 */
#ifndef JIVE_FUZZ_HARNESS_H
#define JIVE_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "jc/app.h"

/* Sets the service's environment (plus vars, "NAME=value" strings, NULL-terminated), starts
 * jc_app_main(service, setup) on a thread and waits until it accepts connections. Once per
 * process. */
void harness_start(enum jc_svc service, jc_app_setup_fn *setup, const char *const *vars);

/* Sends one request built from data (see above) to method and path; extra, when not NULL, is
 * one more header line the harness computes (e.g. a signature). Returns the HTTP status, 0
 * when the connection closed without one, -1 when the service no longer accepts connections. */
int harness_send(const char *method, const char *path, const uint8_t *data, size_t size,
                 const char *extra);

/* The body part of an input (after the first blank line), and its length. */
const uint8_t *harness_body(const uint8_t *data, size_t size, size_t *len);

#endif
