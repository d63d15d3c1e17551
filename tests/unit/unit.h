/* SPDX-License-Identifier: MIT */
/* unit.h: what every cmocka suite includes, plus a loop runner for async tests. */
#ifndef JC_UNIT_H
#define JC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/event.h>

/* Runs base until *done is true or timeout_ms passes; fails the test on timeout. */
static inline void unit_run_until(struct event_base *base, const int *done, long timeout_ms)
{
    struct timeval step = {0, 10000};
    long waited = 0;

    while (!*done && waited < timeout_ms) {
        event_base_loopexit(base, &step);
        event_base_dispatch(base);
        waited += 10;
    }
    assert_true(*done);
}

/* An environment variable the harness must provide (the test fails, never skips). */
static inline const char *unit_env(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0')
        fail_msg("%s is not set: run the suites through make test (pytest harness)", name);
    return v;
}

/* A fake environment for jc_config_load: ud is NULL-terminated name/value pairs. */
static inline const char *unit_lookup(const char *name, void *ud)
{
    const char *const *kv = ud;

    for (; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

/*
 * A resolver with /etc/hosts and one nameserver on a closed loopback port, so a name outside
 * the hosts file fails within a second and no DNS query leaves the machine.
 */
static inline struct evdns_base *unit_hosts_only_dns(struct event_base *base)
{
    struct evdns_base *dns = evdns_base_new(base, 0);

    if (dns != NULL) {
        evdns_base_load_hosts(dns, NULL);
        evdns_base_nameserver_ip_add(dns, "127.0.0.1:1");
        evdns_base_set_option(dns, "timeout:", "0.5");
        evdns_base_set_option(dns, "attempts:", "1");
    }
    return dns;
}

#endif
