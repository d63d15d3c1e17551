/* SPDX-License-Identifier: MIT */
/* mcp.h: jive-mcp's internal interfaces: the JSON-RPC endpoint, the tools, their database access.
 */
#ifndef MCP_MCP_H
#define MCP_MCP_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "jc/app.h"
#include "jc/audit.h"
#include "jc/auth.h"
#include "jc/ratelimit.h"

#define MCP_MODERN "2026-07-28"

struct mcp {
    struct jc_app *app;
    struct jc_ratelimit rl;
    struct jc_audit *audit;
    struct jc_auth_cache *tokens; /* tokens verified before (jc/auth.h) */
    struct mcp_cache *cache;      /* read results per project (cache.h) */
    struct jc_redis *events;      /* subscriber to project:* (invalidates the cache) */
    cJSON *tools_cache;           /* parsed schemas of the tool table (owned) */
};

struct mcp_tool;

/* One JSON-RPC request on POST /mcp (or one POST /mcp/invoke). */
struct mcp_batch;

struct mcp_call {
    struct mcp *mcp;
    struct jc_req *req;
    struct mcp_batch *batch; /* a member of a 2025-03-26 JSON-RPC batch, or NULL */
    cJSON *body;             /* the request object (owned) */
    const cJSON *id;         /* borrowed; NULL for a notification */
    const char *method;      /* borrowed */
    const cJSON *params;
    bool modern; /* 2026-07-28: per-request _meta */
    bool rest;   /* POST /mcp/invoke: plain JSON in and out */
    char version[16];
    struct jc_principal who;
    bool authed;
    char org_id[40];
    const struct mcp_tool *tool;
    const cJSON *args;
    char args_hash[65];
    char op[300]; /* a read other than tools/call, as audited: "resources/read jive://..." */
    char project_id[40];
    void *tool_state;      /* a tool's own state across its asynchronous steps */
    char projects_tag[65]; /* SHA-256 hex of the token's projects claim, "" without one */
    char cache_key[180];   /* set when the result is to be cached */
    char cache_project[40];
    uint64_t cache_gen;
    double t0;
};

typedef void mcp_tool_fn(struct mcp_call *c);

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
    bool cached; /* a read of one project (project_id argument): served from the cache */
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

/* Ends a tools/call with a result: structured (taken) as structuredContent and as text. */
void mcp_tool_result(struct mcp_call *c, cJSON *structured);

/* Ends a tools/call with isError: true and a message an agent can act on. */
void mcp_tool_error(struct mcp_call *c, const char *fmt, ...) JC_PRINTF(2, 3);

/*
 * Ends a tool call that the database failed: the client gets a generic "temporarily
 * unavailable" with the request id and what happened to its request (outcome, e.g. "nothing
 * was moved"); the database's own text goes to the log only, never to the client.
 */
void mcp_db_error(struct mcp_call *c, const char *outcome, const char *detail);

/*
 * Runs sql (one statement returning one row with one JSON text column) as the runtime role
 * with the caller's org set (row-level security), in its own transaction. cb gets the JSON
 * (NULL on error, then msg says why).
 */
typedef void mcp_db_cb(struct mcp_call *c, cJSON *json, enum jc_err err, const char *msg);
void mcp_db(struct mcp_call *c, const char *sql, int nparams, const char *const *params,
            mcp_db_cb *cb);

/* Ends a non-tool request: result (taken) when code is 0, else a JSON-RPC error with msg and
 * data (taken, may be NULL) as error.data. */
void mcp_reply(struct mcp_call *c, cJSON *result, int code, cJSON *data, const char *msg);

/* resources/list, resources/templates/list, resources/read, prompts/list, prompts/get, and
 * completion/complete of their arguments (project_id, story_key, path) under the same scopes. */
void mcp_resources_list(struct mcp_call *c);
void mcp_resources_templates(struct mcp_call *c);
void mcp_resources_read(struct mcp_call *c);
void mcp_prompts_list(struct mcp_call *c);
void mcp_prompts_get(struct mcp_call *c);
void mcp_complete(struct mcp_call *c);

/* kanban_move_story (kanban.c). */
void mcp_kanban_move_story(struct mcp_call *c);

/* Registers POST/GET/DELETE /mcp, GET /mcp/tools, POST /mcp/invoke and the resource metadata. */
enum jc_err mcp_routes(struct mcp *m) JC_MUSTCHECK;

#endif
