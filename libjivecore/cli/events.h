/* SPDX-License-Identifier: MIT */
/* events.h: `jivectl events`, a project's event stream in a terminal. */
#ifndef JIVECTL_EVENTS_H
#define JIVECTL_EVENTS_H

#include <stdbool.h>
#include <stdio.h>

#include <hiredis/hiredis.h>

/*
 * Prints the events of project_id's stream (jive:events:<id>) to out, one JSON object per line
 * with its "stream_id" first, as on the project's channel: those after the stream id from
 * (exclusive; "0" for every event kept), or the last ten when from is NULL; then, with follow,
 * every new one as it arrives, until the process is stopped. c is a connected Redis client.
 * Returns the exit code: 0, or 1 when Redis fails (a message on stderr).
 */
int jivectl_events(redisContext *c, const char *project_id, const char *from, bool follow,
                   FILE *out);

#endif
