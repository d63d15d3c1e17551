/* SPDX-License-Identifier: MIT */
/* cache.c: per-project read cache (see cache.h). A chained hash table; invalidating a project
 * walks the table, which stays small (max_entries) and changes only on events. */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "jc/clock.h"

#define BUCKETS 1024

struct entry {
    char *key;
    char *project;
    char *json;
    double expires; /* jc_clock_mono seconds */
    struct entry *next;
};

struct mcp_cache {
    struct entry *b[BUCKETS];
    size_t n, max;
    double ttl;
    uint64_t gen;
};

static size_t hash(const char *s)
{
    size_t h = 14695981039346656037ULL; /* FNV-1a */

    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h % BUCKETS;
}

static void entry_free(struct entry *e)
{
    free(e->key);
    free(e->project);
    free(e->json);
    free(e);
}

struct mcp_cache *mcp_cache_new(size_t max_entries, long ttl_ms)
{
    struct mcp_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->max = max_entries;
    c->ttl = (double)ttl_ms / 1000.0;
    return c;
}

void mcp_cache_free(struct mcp_cache *c)
{
    if (c == NULL)
        return;
    mcp_cache_invalidate(c, NULL);
    free(c);
}

uint64_t mcp_cache_gen(const struct mcp_cache *c)
{
    return c->gen;
}

char *mcp_cache_get(struct mcp_cache *c, const char *key)
{
    struct entry **pp = &c->b[hash(key)], *e;

    while ((e = *pp) != NULL) {
        if (strcmp(e->key, key) == 0) {
            if (e->expires <= jc_clock_mono()) {
                *pp = e->next;
                entry_free(e);
                c->n--;
                return NULL;
            }
            return strdup(e->json);
        }
        pp = &e->next;
    }
    return NULL;
}

void mcp_cache_put(struct mcp_cache *c, const char *key, const char *project_id, const char *json,
                   uint64_t gen)
{
    size_t h = hash(key);
    struct entry *e, **pp;

    if (gen != c->gen || c->max == 0)
        return; /* the data may predate an invalidation */
    for (pp = &c->b[h]; (e = *pp) != NULL; pp = &e->next)
        if (strcmp(e->key, key) == 0) {
            *pp = e->next;
            entry_free(e);
            c->n--;
            break;
        }
    if (c->n >= c->max) {
        mcp_cache_invalidate(c, NULL); /* simple and bounded: start over */
        c->gen = gen;                  /* a full table is not an invalidation */
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->key = strdup(key);
    e->project = strdup(project_id);
    e->json = strdup(json);
    if (e->key == NULL || e->project == NULL || e->json == NULL) {
        entry_free(e);
        return;
    }
    e->expires = jc_clock_mono() + c->ttl;
    e->next = c->b[h];
    c->b[h] = e;
    c->n++;
}

void mcp_cache_invalidate(struct mcp_cache *c, const char *project_id)
{
    size_t i;
    struct entry **pp, *e;

    c->gen++;
    for (i = 0; i < BUCKETS; i++) {
        pp = &c->b[i];
        while ((e = *pp) != NULL) {
            if (project_id == NULL || strcmp(e->project, project_id) == 0) {
                *pp = e->next;
                entry_free(e);
                c->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}
