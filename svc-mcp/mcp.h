/* SPDX-License-Identifier: MIT */
/* mcp.h: jive-mcp's internal interfaces: the protocol front (rpc.c), how a call ends (call.c),
 * what it passes before it runs (policy.c), the tools (tools.c, kanban.c), resources and prompts
 * (docs.c). */
#ifndef MCP_MCP_H
#define MCP_MCP_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "jc/app.h"
#include "jc/audit.h"
#include "jc/auth.h"
#include "jc/policy.h"
#include "jc/ratelimit.h"

#define MCP_MODERN "2026-07-28"

struct mcp {
    struct jc_app *app;
    struct jc_ratelimit rl;
    struct jc_audit *audit;
    struct jc_auth_cache *tokens; /* tokens verified before (jc/auth.h) */
    struct mcp_cache *cache;      /* read results per project (cache.h) */
    struct jc_redis *events;      /* subscriber to project:* (invalidates the cache) */
    struct mcp_stream *streams;   /* GET /events listeners (events.c) */
    struct event *sweep;          /* events.c: ends the streams whose clients fell behind */
    cJSON *tools_cache;           /* parsed schemas of the tool table (owned) */
    struct jc_fetch *fetch;       /* outbound HTTPS (sign-in: GitHub, client metadata) */
    struct jc_policy *policy;     /* JIVE_POLICY_FILE, NULL without one (policy.c) */
    struct event *sighup;         /* reloads the policy */
    struct jc_redis_script sem;   /* the concurrency cap's semaphore (policy.c) */
    char page_style_hash[80];     /* CSP hash of the sign-in pages' style (oauth.c) */
};

struct mcp_tool;
struct mcp_call;
struct mcp_stream;

/* One JSON-RPC batch of 2025-03-26 (call.c). */
struct mcp_batch;

/* What a call ends with; a sender (chosen when the call is made) puts it on the wire. */
enum mcp_answer_kind {
    MCP_RESULT,     /* a method's result */
    MCP_TOOL,       /* a tool's structured content, as JSON text */
    MCP_TOOL_ERROR, /* a tool result with isError (REST: an error with rest_status) */
    MCP_ERROR       /* a JSON-RPC error (REST: an error envelope) */
};

struct mcp_answer {
    enum mcp_answer_kind kind;
    int status;            /* HTTP status of an error on /mcp */
    int rest_status;       /* HTTP status of an error on the REST routes */
    int code;              /* JSON-RPC error code */
    const char *rest_code; /* the REST error envelope's code; NULL: from code */
    const char *msg;       /* error or tool-error text */
    const char *rest_msg;  /* REST's text when it differs, else NULL */
    cJSON *result;         /* MCP_RESULT (taken) */
    cJSON *data;           /* MCP_ERROR: error.data (taken, may be NULL) */
    const char *text;      /* MCP_TOOL (borrowed) */
};

/* Sends a (taking what it owns) and frees c. */
typedef void mcp_send_fn(struct mcp_call *c, struct mcp_answer *a);

typedef void mcp_tool_fn(struct mcp_call *c);

/* mcp_db's callback (call.c). */
typedef void mcp_db_cb(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg);

struct mcp_call {
    struct mcp *mcp;
    struct jc_req *req;
    mcp_send_fn *send;       /* how the answer goes out: JSON-RPC, a batch member, or REST */
    struct mcp_batch *batch; /* the batch of a member, else NULL */
    cJSON *body;             /* the request object (owned) */
    const cJSON *id;         /* borrowed; NULL for a notification */
    const char *method;      /* borrowed */
    const cJSON *params;
    bool modern; /* 2026-07-28: per-request _meta */
    char version[16];
    struct jc_principal who;
    bool authed;
    char org_id[40];
    const struct mcp_tool *tool;
    mcp_tool_fn *then; /* a metered read other than a tool: what runs once the bucket allows */
    mcp_db_cb *db_cb;  /* mcp_db's callback while its failure waits for the next turn */
    const cJSON *args;
    char args_hash[65];
    char op[300]; /* a read other than tools/call, as audited: "resources/read jive://..." */
    char project_id[40];
    void *tool_state;      /* a tool's own state across its asynchronous steps */
    char projects_tag[65]; /* SHA-256 hex of the token's projects claim, "" without one */
    char session[48];      /* the 2025-era session the request carries, once checked */
    char task_id[40];      /* tasks/get, tasks/cancel, tasks/update: the task (a job id) */
    char sem_key[200];     /* a concurrency slot this call holds (policy.c), "" when none */
    char sem_token[40];
    char cache_key[180]; /* set when the result is to be cached */
    char cache_project[40];
    uint64_t cache_gen;
    double t0;
};

struct mcp_tool {
    const char *name;
    const char *alias; /* the dotted name of the original plan, or NULL */
    const char *title;
    const char *description;
    const char *scope;
    bool read_only, destructive, idempotent;
    const char *input_schema;  /* JSON */
    const char *output_schema; /* JSON */
    mcp_tool_fn *fn;
    bool cached;            /* a read of one project (project_id argument): served from the cache */
    const char *event;      /* a write: the event published on project:<id> after it, or NULL */
    const char *event_data; /* the result's member the event carries (else the arguments) */
};

/* The tool table; NULL-name terminated. */
extern const struct mcp_tool mcp_tools[];

/* The tool named name (or its alias), or NULL. */
const struct mcp_tool *mcp_tool_find(const char *name);

/* The tools/list entry of t (title, schemas, annotations); caller frees. */
cJSON *mcp_tool_describe(const struct mcp_tool *t);

/*
 * Checks args against a tool's input schema (the JSON Schema subset the tools use: object,
 * properties with type/enum/minimum/maximum/maxLength/pattern-free strings, required,
 * additionalProperties false). Returns NULL when valid, else a message (static or in buf).
 */
const char *mcp_validate(const struct mcp_tool *t, const cJSON *args, char *buf, size_t len);

/* ---- call.c: how a call ends ---- */

/* The three senders: a single JSON-RPC response on /mcp, a member of a batch, and the REST
 * routes (plain JSON in and out). A call's sender is set when the call is made. */
mcp_send_fn mcp_send_jsonrpc;
mcp_send_fn mcp_send_rest;

/* A new call on req answered by send; NULL after answering 503 itself (out of memory). */
struct mcp_call *mcp_call_new(struct mcp *m, struct jc_req *req, mcp_send_fn *send);

/* Frees c without answering (a notification, a call folded into another). */
void mcp_call_free(struct mcp_call *c);

/* A batch answering on req: members are made with mcp_batch_member; the answer goes out once
 * mcp_batch_close was called and every member has answered. NULL when out of memory. */
struct mcp_batch *mcp_batch_open(struct jc_req *req);
struct mcp_call *mcp_batch_member(struct mcp_batch *b, struct mcp *m); /* NULL: out of memory */
void mcp_batch_close(struct mcp_batch *b);

/* Adds a response header for c; nothing for a batch member (one answer carries the batch). */
void mcp_call_header(struct mcp_call *c, const char *name, const char *value);

/* Writes c's audit row (result "success", "denied", "invalid", "rate_limited", "error"). */
void mcp_audit(struct mcp_call *c, const char *result, const char *error);

/* Ends c with a method's result (taken). */
void mcp_result(struct mcp_call *c, cJSON *result);

/* Ends c with an error: HTTP status on /mcp and rest_status on REST, JSON-RPC code, REST code
 * (NULL: invalid_params for -32602, else mcp_error), error.data (taken, may be NULL). */
void mcp_error(struct mcp_call *c, int status, int rest_status, int code, const char *rest_code,
               cJSON *data, const char *fmt, ...) JC_PRINTF(7, 8);

/* Ends a non-tool request: result (taken) when code is 0, else a JSON-RPC error with msg and
 * data (taken, may be NULL) as error.data; a metered read is audited. An internal fault
 * (-32603) is logged and answered generically with the request id. */
void mcp_reply(struct mcp_call *c, cJSON *result, int code, cJSON *data, const char *msg);

/* Ends a tools/call with a result: structured (taken) as structuredContent and as text. Stores
 * it in the read cache when the call asked to, and after a write tells the project's channel. */
void mcp_tool_result(struct mcp_call *c, cJSON *structured);

/* The CallToolResult of structured content (JSON text), and of a tool error with msg: what a
 * tools/call answers, and what a task's result holds (tasks.c). Caller frees. */
cJSON *mcp_tool_result_object(const char *structured);
cJSON *mcp_tool_error_object(const char *msg);

/* Ends a tools/call with a task handle instead of its result (the tasks extension,
 * 2026-07-28): task (taken) gets resultType "task"; the call is audited as a success. */
void mcp_tool_task(struct mcp_call *c, cJSON *task);

/* True when the request's client capabilities declare the io.modelcontextprotocol/tasks
 * extension (2026-07-28 only): then a tool whose work is a queued job may answer a task. */
bool mcp_client_has_tasks(const struct mcp_call *c);

/* kanban.c: the answer a story-move job gives (its row: status, result, error): MOVE_DONE with
 * *out the structured content (caller frees), MOVE_REFUSED with the tool error's text in msg,
 * MOVE_RUNNING while it has no outcome. The synchronous call and tasks/get answer alike. */
enum mcp_move_state { MOVE_RUNNING, MOVE_DONE, MOVE_REFUSED };
enum mcp_move_state mcp_move_outcome(const char *job_id, const cJSON *job, cJSON **out, char *msg,
                                     size_t len);

/* tasks.c: tasks/get, tasks/cancel and tasks/update (io.modelcontextprotocol/tasks), and the
 * first state of a task whose work is job_id (a new object). */
cJSON *mcp_task_handle(const char *job_id);

/* The DetailedTask of task_id from its job row (status, result, error, created_at, updated_at):
 * what tasks/get answers and notifications/tasks carries. A new object. */
cJSON *mcp_task_detail(const char *task_id, const cJSON *job);

/* The job row of task $1 as JSON, for mcp_task_detail; only jobs a tool turned into tasks are
 * tasks. */
#define MCP_TASK_JOB_SQL                                                                           \
    "SELECT json_build_object('status', status, 'result', result, 'error', error, 'created_at', "  \
    "created_at, 'updated_at', updated_at) FROM jobs WHERE id = $1::uuid AND queue = "             \
    "'story-move'"
void mcp_tasks_get(struct mcp_call *c);
void mcp_tasks_cancel(struct mcp_call *c);
void mcp_tasks_update(struct mcp_call *c);

/* Ends a tools/call with text, the structuredContent exactly as cached (no tree is built). */
void mcp_tool_cached(struct mcp_call *c, const char *text);

/* Ends a tools/call with isError: true and a message an agent can act on (REST: 422). */
void mcp_tool_error(struct mcp_call *c, const char *fmt, ...) JC_PRINTF(2, 3);

/* The same for arguments the tool's schema refuses (audited "invalid"; REST: 400). */
void mcp_tool_invalid(struct mcp_call *c, const char *msg);

/*
 * Ends a tool call that the database failed: the client gets a generic "temporarily
 * unavailable" with the request id and what happened to its request (outcome, e.g. "nothing
 * was moved"); the database's own text goes to the log only, never to the client.
 */
void mcp_db_error(struct mcp_call *c, const char *outcome, const char *detail);

/*
 * Runs sql (one statement returning one row with one JSON text column) as the runtime role
 * with the caller's org set (row-level security), in its own transaction. cb gets the JSON
 * (NULL on error, then msg says why): exactly once, never inside this call, also when the read
 * could not even start (jc/later.h).
 */
void mcp_db(struct mcp_call *c, const char *sql, int nparams, const char *const *params,
            mcp_db_cb *cb);

/* ---- policy.c: what a call passes before it runs ---- */

/* The policy file (JIVE_POLICY_FILE): loaded at start (an error refuses the start), reloaded on
 * SIGHUP (an error keeps the policy in force), checked against the tool table. */
enum jc_err mcp_policy_init(struct mcp *m, char *err, size_t errlen) JC_MUSTCHECK;
void mcp_policy_free(struct mcp *m);

/* True when the caller may see and call tool t: its scope, and the policy's role when there is
 * one. */
bool mcp_tool_visible(const struct mcp_call *c, const struct mcp_tool *t);

/* Gives back the concurrency slot c holds, if any (mcp_call_free does). */
void mcp_policy_release(struct mcp_call *c);

/* tools/call: the tool exists, the token has its scope, the arguments fit its schema, the
 * caller's token bucket allows it; then a cached read answers from the cache or the tool runs. */
void mcp_tools_call(struct mcp_call *c);

/* True when c->method is a read of tenant data other than tools/call (resources/list,
 * resources/read, prompts/get, completion/complete); names it in c->op for the audit row and
 * notes the project it names. */
bool mcp_metered(struct mcp_call *c);

/* Takes from the caller's token bucket, then runs then(c) (or answers 429). */
void mcp_meter(struct mcp_call *c, mcp_tool_fn *then);

/* resources/list, resources/templates/list, resources/read, prompts/list, prompts/get, and
 * completion/complete of their arguments (project_id, story_key, path) under the same scopes. */
void mcp_resources_list(struct mcp_call *c);
void mcp_resources_templates(struct mcp_call *c);
void mcp_resources_read(struct mcp_call *c);
void mcp_prompts_list(struct mcp_call *c);
void mcp_prompts_get(struct mcp_call *c);
void mcp_complete(struct mcp_call *c);

/* tools.c: requires project_id (a UUID) in the arguments into c->project_id; false after
 * answering. And the common ending of a read of one project: JSON null means it is not visible
 * to the token (a tool error saying so), a database failure is mcp_db_error. */
bool mcp_need_project(struct mcp_call *c);
void mcp_read_done(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg);

/* memory.c: memory_store, memory_search, memory_forget. */
void mcp_memory_store(struct mcp_call *c);
void mcp_memory_search(struct mcp_call *c);
void mcp_memory_forget(struct mcp_call *c);

/* reports.c: reports_list and reports_run (fixed SQL templates over a project's history). */
void mcp_reports_list(struct mcp_call *c);
void mcp_reports_run(struct mcp_call *c);
/* resources/read of jive://reports/<project-id>/<report>: that report for the current week. */
void mcp_report_resource(struct mcp_call *c, const char *project_id, const char *name);

/* kanban_move_story (kanban.c). */
void mcp_kanban_move_story(struct mcp_call *c);

/* rpc.c: verifies the bearer token into c->who and c->org_id; false after answering 401 (c is
 * then freed). */
bool mcp_authenticate(struct mcp_call *c);

/* rpc.c: true when c's token has scope; else answers 403 insufficient_scope with why (and the
 * challenge a client steps up from), audits the refusal, and returns false. */
bool mcp_require_scope(struct mcp_call *c, const char *scope, const char *why);

/* rpc.c: a call on a REST route (plain JSON answers), named op in the audit: the Origin checked
 * and the token verified; NULL after answering when either fails. */
struct mcp_call *mcp_rest_call(struct mcp *m, struct jc_req *req, const char *op);

/* rpc.c: the challenge of a 403 for a missing scope (RFC 6750 section 3.1, with the resource
 * metadata's URL as the MCP authorization specification asks), so a client can step up. */
void mcp_challenge_scope(struct mcp_call *c, const char *scope, const char *why);

/* rpc.c: the Origin a browser request came from when it is refused (DNS-rebinding defence, the
 * same on every route), else NULL. */
const char *mcp_origin_refused(const struct mcp *m, struct jc_req *req);

/* session.c: 2025-era sessions for resource subscriptions. mcp_session_open answers an
 * initialize with result (taken), assigning a session; mcp_session_check verifies the request's
 * Mcp-Session-Id (404 when unknown, ended, expired or another caller's; then c is answered) and
 * runs then(c) with c->session set (or "" when Redis did not answer). */
void mcp_session_open(struct mcp_call *c, cJSON *result);
void mcp_session_check(struct mcp_call *c, mcp_tool_fn *then);
void mcp_resources_subscribe(struct mcp_call *c);
void mcp_resources_unsubscribe(struct mcp_call *c);
void mcp_session_end(struct mcp_call *c); /* DELETE /mcp */

/* events.c: GET /mcp with a session: the session's server stream, resources/updated and
 * list_changed for its subscriptions; mcp_events_session_changed reloads a session's URIs on
 * the streams of this process. */
void mcp_session_stream(struct mcp_call *c);
void mcp_events_session_changed(struct mcp *m, const char *session);

/* events.c: GET /events/<project-id>, Server-Sent Events of the project's events (resumable
 * with Last-Event-ID); mcp_events_deliver hands each message of project:* to its listeners. */
enum jc_err mcp_events_init(struct mcp *m) JC_MUSTCHECK;
void mcp_events_deliver(struct mcp *m, const char *project_id, const char *json, size_t len);
void mcp_events_free(struct mcp *m);

/* events.c: subscriptions/listen (2026-07-28): an SSE stream of resource notifications. */
void mcp_subscriptions_listen(struct mcp_call *c);

/* oauth.c: the sign-in routes when sign-in is configured (oauth.h), else the answers that say
 * there is none. */
enum jc_err mcp_oauth_init(struct mcp *m, char *err, size_t errlen) JC_MUSTCHECK;
void mcp_oauth_free(struct mcp *m);

/* admin.c: GET /admin/audit, the org's audit log for operators (scope audit:read). */
enum jc_err mcp_admin_routes(struct mcp *m) JC_MUSTCHECK;

/* board.c: GET /board/<project-id> (the live board page) and its script and style sheet. */
enum jc_err mcp_board_routes(struct mcp *m) JC_MUSTCHECK;

/* Registers POST/GET/DELETE /mcp, GET /mcp/tools, POST /mcp/invoke and the resource metadata. */
enum jc_err mcp_routes(struct mcp *m) JC_MUSTCHECK;

/* service.c: the service's start (jc_app_main's setup): its state, routes and shutdown. */
enum jc_err mcp_setup(struct jc_app *app, char *err, size_t errlen) JC_MUSTCHECK;

#endif
