/* SPDX-License-Identifier: MIT */
/*
 * jive-webhook: receives GitHub webhooks (HMAC-verified, deduplicated) and turns them into
 * durable events and jobs. Routes: POST /webhooks/github/<project-id>, POST /webhooks/github,
 * POST /api/jobs/enqueue, plus /health, /livez, /metrics. Runs the job outbox sweeper.
 * The service itself is in service.c; everything but this file builds into the service's
 * archive, which the unit suites and the fuzzers link too.
 */
#include "webhook.h"

int main(void)
{
    return jc_app_main(JC_SVC_WEBHOOK, wh_setup);
}
