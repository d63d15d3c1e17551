/* SPDX-License-Identifier: MIT */
/*
 * fuzz_webhook_http.c: libFuzzer target for jive-webhook's verify-and-parse path: the whole
 * service on a thread (harness.h), each input one POST /webhooks/github (the app-wide endpoint)
 * with its header lines and body. The harness signs the body with the app-wide secret unless the
 * input brings its own X-Hub-Signature-256, so mutations get past HMAC verification into the
 * form and JSON parsing; the repository lookup then meets an unavailable database.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "jc/crypto.h"
#include "webhook.h"

#define SECRET "fuzz-webhook-secret-0123456789"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vars[] = {
    "JIVE_GITHUB_WEBHOOK_SECRET=" SECRET,
    "JIVE_QUERY_TIMEOUT_MS=50",
    "JIVE_REDIS_TIMEOUT_MS=50",
    NULL,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    harness_start(JC_SVC_WEBHOOK, wh_setup, vars);
    return 0;
}

static int has_signature(const uint8_t *data, size_t hlen)
{
    static const char name[] = "x-hub-signature-256";
    size_t i, k;

    for (i = 0; i + sizeof(name) - 1 <= hlen; i++) {
        for (k = 0; k < sizeof(name) - 1 && tolower(data[i + k]) == name[k]; k++)
            ;
        if (k == sizeof(name) - 1)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char mac[JC_SHA256_LEN];
    char extra[128];
    size_t blen, i;
    const uint8_t *body = harness_body(data, size, &blen);
    int o;

    if (has_signature(data, (size_t)(body - data))) {
        extra[0] = '\0';
    } else {
        if (jc_crypto_hmac_sha256(SECRET, strlen(SECRET), body, blen, mac) != JC_OK)
            abort();
        o = snprintf(extra, sizeof(extra), "X-Hub-Signature-256: sha256=");
        for (i = 0; i < sizeof(mac); i++)
            o += snprintf(extra + o, sizeof(extra) - (size_t)o, "%02x", mac[i]);
    }
    if (harness_send("POST", "/webhooks/github", data, size, extra[0] ? extra : NULL) < 0)
        abort(); /* the service stopped answering */
    return 0;
}
