/* SPDX-License-Identifier: MIT */
/* jive-webhook: receives GitHub webhooks and turns them into durable events and jobs. */
#include "jc/app.h"

int main(void)
{
    return jc_app_main(JC_SVC_WEBHOOK, NULL);
}
