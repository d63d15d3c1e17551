/* SPDX-License-Identifier: MIT */
/*
 * jive-orchestrator: consumes the job queues (reliable fetch, retries, dead letters, crash
 * recovery), runs the job handlers, and sweeps the job outbox. Serves /health and /metrics.
 * The service itself is in service.c; everything but this file builds into the service's
 * archive, which the unit suites and the fuzzers link too.
 */
#include "orchestrator.h"

int main(void)
{
    return jc_app_main(JC_SVC_ORCHESTRATOR, orch_setup);
}
