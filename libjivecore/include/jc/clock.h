/* SPDX-License-Identifier: MIT */
/* jc/clock.h: the clocks JIVE reads: monotonic seconds, wall milliseconds, ISO-8601 UTC text. */
#ifndef JC_CLOCK_H
#define JC_CLOCK_H

#define JC_ISO_LEN 32 /* "2026-11-21T06:05:51.579Z" + NUL, with room */

/* Monotonic seconds (for durations; never goes back). */
double jc_clock_mono(void);

/* Wall-clock milliseconds since the Unix epoch (for due times shared between processes). */
long long jc_clock_ms(void);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out. */
void jc_clock_iso(char out[JC_ISO_LEN]);

#endif
