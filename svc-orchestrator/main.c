/* SPDX-License-Identifier: MIT */
/* jive-orchestrator: consumes jobs, scans BMAD artifacts, evaluates gates, detects conflicts. */
#include "jc/app.h"

int main(void)
{
    return jc_app_main(JC_SVC_ORCHESTRATOR, NULL);
}
