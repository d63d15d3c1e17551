/* SPDX-License-Identifier: MIT */
/* inspect.h: `jivectl inspect`, what the scanner sees in a local checkout. */
#ifndef JIVECTL_INSPECT_H
#define JIVECTL_INSPECT_H

#include <stdbool.h>

/* Reads every BMAD file below dir (no database, no services) and prints each story, gate,
 * finding and per-file problem, as text or with json as one JSON object. Returns the exit
 * code: 0, or 1 when dir is not a directory. */
int jivectl_inspect(const char *dir, bool json);

#endif
