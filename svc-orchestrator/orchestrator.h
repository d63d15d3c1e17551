/* SPDX-License-Identifier: MIT */
/* orchestrator.h: jive-orchestrator's job handlers. */
#ifndef ORCH_ORCHESTRATOR_H
#define ORCH_ORCHESTRATOR_H

#include "jc/worker.h"

/* run-sync: upserts the CI run of a workflow_run/check_run/check_suite event into runs. */
void orch_run_sync(struct jc_job_run *run, void *ud);

#endif
