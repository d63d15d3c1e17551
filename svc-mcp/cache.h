/* SPDX-License-Identifier: MIT */
/*
 * cache.h: jive-mcp's in-process cache of read-tool results, so that repeated reads of a
 * project need no database round trip. An entry is the JSON text of one result, keyed by the
 * caller's org, the tool and its argument hash, and tagged with its project.
 *
 * Invalidation: every event on Redis channel project:<id> drops that project's entries; a
 * (re)subscription drops everything (events may have been missed); entries also expire after
 * ttl_ms, which bounds staleness if an event is never published. A result whose read began
 * before an invalidation is not stored: take mcp_cache_gen before the read, pass it to put.
 *
 * Loop thread only. Keys and values are copied; get returns a copy the caller frees.
 */
#ifndef MCP_CACHE_H
#define MCP_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct mcp_cache;

struct mcp_cache *mcp_cache_new(size_t max_entries, long ttl_ms);
void mcp_cache_free(struct mcp_cache *c);

/* A fresh copy of the entry's JSON text (caller frees), or NULL on a miss or expiry. */
char *mcp_cache_get(struct mcp_cache *c, const char *key);

/* The current generation; it moves on every invalidation. */
uint64_t mcp_cache_gen(const struct mcp_cache *c);

/* Stores json for key unless an invalidation happened since gen was read; allocation failure
 * only means the entry is not cached. */
void mcp_cache_put(struct mcp_cache *c, const char *key, const char *project_id, const char *json,
                   uint64_t gen);

/* Drops project_id's entries, or every entry when project_id is NULL. */
void mcp_cache_invalidate(struct mcp_cache *c, const char *project_id);

#endif
