/* SPDX-License-Identifier: MIT */
/* clock.c: monotonic and wall clocks, ISO-8601 timestamps. */
#include <stdio.h>
#include <time.h>

#include "jc/clock.h"

double jc_clock_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long jc_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jc_clock_iso(char out[JC_ISO_LEN])
{
    struct timespec ts;
    struct tm tm;
    char date[24];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, JC_ISO_LEN, "%.19s.%03dZ", date, (int)(ts.tv_nsec / 1000000));
}
