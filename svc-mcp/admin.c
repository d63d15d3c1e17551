/* SPDX-License-Identifier: MIT */
/*
 * admin.c: GET /admin/audit, the audit log for the people who run JIVE: the caller's org only
 * (row-level security, as every read), scope audit:read. Filters (query parameters, each
 * optional): actor, tool, result, project, client, from and to (ISO 8601 times), request_id,
 * trace_id (the 32 hex digits of a W3C trace id). Newest first, at most limit rows (default
 * 100, at most 1000); next_cursor, passed back as cursor, gives the next page (keyset: a row
 * written meanwhile never shifts a page). JSON by default; CSV (RFC 4180) with format=csv or
 * Accept: text/csv. The query itself is rate limited and audited.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "jc/crypto.h"
#include "mcp.h"

#define AUDIT_MAX_LIMIT 1000

static const char *const csv_columns[] = {
    "id",        "timestamp", "actor_type", "actor_id",    "actor_name", "tool",
    "scope",     "result",    "error",      "project_id",  "request_id", "traceparent",
    "client_id", "ip",        "user_agent", "duration_ms", NULL};

struct audit_query {
    bool csv;
    long limit;
};

/* An ISO 8601 date or time: YYYY-MM-DD, optionally THH:MM[:SS[.frac]] and Z or ±HH[:]MM. */
static bool iso_time(const char *s)
{
    const char *p = s;
    int i;

    for (i = 0; i < 10; i++, p++)
        if ((i == 4 || i == 7) ? *p != '-' : !isdigit((unsigned char)*p))
            return false;
    if (*p == '\0')
        return true;
    if (*p != 'T' && *p != ' ')
        return false;
    p++;
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return false;
    p += 5;
    if (*p == ':') {
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
            return false;
        p += 3;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return false;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return false;
        p += 2;
        if (*p == ':')
            p++;
        if (*p == '\0')
            return true;
        return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && p[2] == '\0';
    }
    return *p == '\0';
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a cell that a
 * spreadsheet would run as a formula (=, +, -, @ first) is quoted with a leading apostrophe. */
static void csv_field(struct evbuffer *b, const cJSON *v)
{
    char num[32];
    const char *s = cJSON_IsString(v)   ? v->valuestring
                    : cJSON_IsNumber(v) ? (snprintf(num, sizeof(num), "%.0f", v->valuedouble), num)
                                        : "";
    bool formula = cJSON_IsString(v) && strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';

    if (strpbrk(s, ",\"\r\n") == NULL && !formula) {
        evbuffer_add(b, s, strlen(s));
        return;
    }
    evbuffer_add(b, "\"", 1);
    if (formula)
        evbuffer_add(b, "'", 1);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            evbuffer_add(b, "\"", 1);
        evbuffer_add(b, s, 1);
    }
    evbuffer_add(b, "\"", 1);
}

static void reply_csv(struct mcp_call *c, const cJSON *rows)
{
    struct evbuffer *b = evbuffer_new();
    const cJSON *r;
    size_t i;
    struct jc_req *req = c->req;

    if (b == NULL) {
        mcp_reply(c, NULL, -32603, NULL, "out of memory");
        return;
    }
    for (i = 0; csv_columns[i] != NULL; i++)
        evbuffer_add_printf(b, "%s%s", i > 0 ? "," : "", csv_columns[i]);
    evbuffer_add(b, "\r\n", 2);
    cJSON_ArrayForEach(r, rows)
    {
        for (i = 0; csv_columns[i] != NULL; i++) {
            if (i > 0)
                evbuffer_add(b, ",", 1);
            csv_field(b, cJSON_GetObjectItem(r, csv_columns[i]));
        }
        evbuffer_add(b, "\r\n", 2);
    }
    mcp_audit(c, "success", NULL);
    mcp_call_free(c);
    jc_req_add_header(req, "Content-Disposition", "attachment; filename=\"jive-audit.csv\"");
    jc_http_reply_raw(req, 200, "text/csv; charset=utf-8", (const char *)evbuffer_pullup(b, -1),
                      evbuffer_get_length(b));
    evbuffer_free(b);
}

static void queried(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg)
{
    struct audit_query *q = c->tool_state;
    cJSON *rows = cJSON_GetObjectItem(json, "rows"), *out;
    int n = cJSON_GetArraySize(rows);
    bool csv = q->csv;
    long limit = q->limit;

    free(q);
    c->tool_state = NULL;
    if (err != JC_OK) {
        cJSON_Delete(json);
        mcp_reply(c, NULL, -32603, NULL, msg);
        return;
    }
    out = cJSON_CreateObject();
    if (n > limit) { /* one more than asked: there is a next page, after the last shown */
        const cJSON *last = cJSON_GetArrayItem(rows, (int)limit - 1);
        cJSON_DeleteItemFromArray(rows, (int)limit);
        cJSON_AddStringToObject(out, "next_cursor",
                                cJSON_GetStringValue(cJSON_GetObjectItem(last, "cursor")));
    } else {
        cJSON_AddNullToObject(out, "next_cursor");
    }
    if (csv) {
        reply_csv(c, rows);
        cJSON_Delete(out);
        cJSON_Delete(json);
        return;
    }
    cJSON_AddItemToObject(out, "rows", cJSON_DetachItemFromObject(json, "rows"));
    cJSON_Delete(json);
    mcp_reply(c, out, 0, NULL, NULL);
}

/* Query parameter name into out (decoded); false when absent; "" with *bad when too long. */
static const char *param(struct evkeyvalq *q, const char *name, bool *bad)
{
    const char *v = evhttp_find_header(q, name);

    if (v != NULL && strlen(v) > 300) {
        *bad = true;
        return NULL;
    }
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static void bad_request(struct mcp_call *c, const char *fmt, ...) JC_PRINTF(2, 3);

static void bad_request(struct mcp_call *c, const char *fmt, ...)
{
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mcp_audit(c, "invalid", msg);
    mcp_error(c, 400, 400, -32602, "invalid_argument", NULL, "%s", msg);
}

/* Checks the filters p[0..8] and reads format, limit and cursor into aq and the cursor's parts;
 * false after answering 400 with what is wrong. */
static bool refused(struct mcp_call *c, struct evkeyvalq *q, const char *const *p,
                    struct audit_query *aq, char *cursor_ts, size_t tslen, char *cursor_id,
                    size_t idlen, bool bad)
{
    const char *v;

    if (bad) {
        bad_request(c, "%s", "a filter is longer than 300 characters");
        return false;
    }
    if (p[2] != NULL && strcmp(p[2], "success") != 0 && strcmp(p[2], "error") != 0 &&
        strcmp(p[2], "denied") != 0 && strcmp(p[2], "rate_limited") != 0 &&
        strcmp(p[2], "invalid") != 0) {
        bad_request(c, "%s", "result must be success, error, denied, rate_limited or invalid");
        return false;
    }
    if (p[3] != NULL && !jc_crypto_is_uuid(p[3])) {
        bad_request(c, "project must be a project's UUID, not '%.60s'", p[3]);
        return false;
    }
    if ((p[4] != NULL && !iso_time(p[4])) || (p[5] != NULL && !iso_time(p[5]))) {
        bad_request(c,
                    "from and to must be ISO 8601 times (2026-12-01 or 2026-12-01T10:00:00Z), "
                    "not '%.60s'",
                    p[4] != NULL && !iso_time(p[4]) ? p[4] : p[5]);
        return false;
    }
    if (p[7] != NULL && (strlen(p[7]) != 32 || strspn(p[7], "0123456789abcdef") != 32)) {
        bad_request(c, "trace_id must be 32 lower-case hex digits, not '%.60s'", p[7]);
        return false;
    }
    if ((v = param(q, "format", &bad)) != NULL) {
        if (strcmp(v, "csv") != 0 && strcmp(v, "json") != 0) {
            bad_request(c, "format must be json or csv, not '%.20s'", v);
            return false;
        }
        aq->csv = strcmp(v, "csv") == 0;
    }
    if ((v = param(q, "limit", &bad)) != NULL) {
        char *end;
        aq->limit = strtol(v, &end, 10);
        if (*end != '\0' || aq->limit < 1 || aq->limit > AUDIT_MAX_LIMIT) {
            bad_request(c, "limit must be 1 to 1000, not '%.20s'", v);
            return false;
        }
    }
    if ((v = param(q, "cursor", &bad)) != NULL) {
        const char *dash = strchr(v, '-');
        size_t tl = dash != NULL ? (size_t)(dash - v) : 0;
        if (dash == NULL || tl == 0 || tl >= tslen || strspn(v, "0123456789") != tl ||
            dash[1] == '\0' || strlen(dash + 1) >= idlen ||
            strspn(dash + 1, "0123456789") != strlen(dash + 1)) {
            bad_request(c, "%s", "cursor must be a next_cursor this endpoint gave");
            return false;
        }
        memcpy(cursor_ts, v, tl);
        cursor_ts[tl] = '\0';
        snprintf(cursor_id, idlen, "%s", dash + 1);
    }
    if (bad) {
        bad_request(c, "%s", "a parameter is longer than 300 characters");
        return false;
    }
    return true;
}

static void audit_metered(struct mcp_call *c)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req->ev);
    const char *qs = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq q;
    struct audit_query *aq = calloc(1, sizeof(*aq));
    const char *p[12], *accept = jc_req_header(c->req, "Accept");
    char limit1[24], cursor_ts[24] = "", cursor_id[24] = "";
    bool bad = false;

    TAILQ_INIT(&q);
    if (aq == NULL || (qs != NULL && evhttp_parse_query_str(qs, &q) != 0)) {
        free(aq);
        bad_request(c, "%s", "the query string cannot be read");
        return;
    }
    p[0] = param(&q, "actor", &bad);
    p[1] = param(&q, "tool", &bad);
    p[2] = param(&q, "result", &bad);
    p[3] = param(&q, "project", &bad);
    p[4] = param(&q, "from", &bad);
    p[5] = param(&q, "to", &bad);
    p[6] = param(&q, "request_id", &bad);
    p[7] = param(&q, "trace_id", &bad);
    p[8] = param(&q, "client", &bad);
    aq->limit = 100;
    aq->csv = (accept != NULL && strstr(accept, "text/csv") != NULL);
    if (!refused(c, &q, p, aq, cursor_ts, sizeof(cursor_ts), cursor_id, sizeof(cursor_id), bad)) {
        evhttp_clear_headers(&q); /* c was answered and is gone */
        free(aq);
        return;
    }
    c->tool_state = aq;
    snprintf(limit1, sizeof(limit1), "%ld", aq->limit + 1);
    p[9] = cursor_ts[0] != '\0' ? cursor_ts : NULL;
    p[10] = cursor_id[0] != '\0' ? cursor_id : NULL;
    p[11] = limit1;
    mcp_db(
        c,
        "SELECT json_build_object('rows', coalesce(json_agg(r ORDER BY r.ts DESC, r.id DESC),"
        " '[]'))::text FROM (SELECT id, \"timestamp\" AS ts, \"timestamp\", actor_type, actor_id,"
        " actor_name, tool, scope, result, error_message AS error, project_id, request_id,"
        " traceparent, client_id, host(ip_address) AS ip, user_agent, duration_ms,"
        " (extract(epoch FROM \"timestamp\") * 1000000)::bigint || '-' || id AS cursor"
        " FROM mcp_audit_logs WHERE ($1::text IS NULL OR actor_id = $1)"
        " AND ($2::text IS NULL OR tool = $2) AND ($3::text IS NULL OR result = $3)"
        " AND ($4::uuid IS NULL OR project_id = $4::uuid)"
        " AND ($5::timestamptz IS NULL OR \"timestamp\" >= $5::timestamptz)"
        " AND ($6::timestamptz IS NULL OR \"timestamp\" < $6::timestamptz)"
        " AND ($7::text IS NULL OR request_id = $7)"
        " AND ($8::text IS NULL OR traceparent LIKE '00-' || $8 || '-%')"
        " AND ($9::text IS NULL OR client_id = $9)"
        " AND ($10::bigint IS NULL OR (\"timestamp\", id) < ('epoch'::timestamptz +"
        "  $10::bigint * interval '1 microsecond', $11::bigint))"
        " ORDER BY \"timestamp\" DESC, id DESC LIMIT $12::int) r",
        12, p, queried);
    evhttp_clear_headers(&q);
}

static void get_audit(struct jc_req *req, void *ud)
{
    struct mcp_call *c = mcp_rest_call(ud, req, "admin/audit");

    if (c != NULL && mcp_require_scope(c, "audit:read", "the audit log needs the audit:read scope"))
        mcp_meter(c, audit_metered);
}

enum jc_err mcp_admin_routes(struct mcp *m)
{
    return jc_http_route(m->app->http, "GET", "/admin/audit", get_audit, m);
}
