/* SPDX-License-Identifier: MIT */
/* findings.c: findings from a project's state: overlaps, gates, keys, sprint disagreements. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jc/findings.h"

static const char *s_of(const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    return v != NULL ? v : "";
}

/* An array's items by index: cJSON_GetArrayItem walks the list, so loops index this instead. */
struct items {
    const cJSON **v;
    int n;
};

static bool items_of(const cJSON *arr, struct items *out)
{
    const cJSON *c;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;

    out->n = 0;
    out->v = calloc((size_t)n + 1, sizeof(const cJSON *));
    if (out->v == NULL)
        return false;
    for (c = n > 0 ? arr->child : NULL; c != NULL && out->n < n; c = c->next)
        out->v[out->n++] = c;
    return true;
}

int jc_findings_severity_rank(const char *severity)
{
    static const char *const order[] = {"low", "medium", "high", "critical"};
    int i;

    for (i = 0; severity != NULL && i < 4; i++)
        if (strcmp(severity, order[i]) == 0)
            return i + 1;
    return 0;
}

static void add(cJSON *out, const char *kind, const char *fp, const char *severity,
                const char *summary, cJSON *details)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "kind", kind);
    cJSON_AddStringToObject(c, "fingerprint", fp);
    cJSON_AddStringToObject(c, "severity", severity);
    cJSON_AddStringToObject(c, "summary", summary);
    cJSON_AddItemToObject(c, "details", details != NULL ? details : cJSON_CreateObject());
    cJSON_AddItemToArray(out, c);
}

/* (name, index) pairs sorted by name: groups of equal names become neighbours. */
struct entry {
    const char *name;
    int idx;
};

static int by_name(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Binary search in entries sorted by name: the first with that name, -1 when absent. */
static int find(const struct entry *e, int m, const char *name)
{
    int lo = 0, hi = m - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(e[mid].name, name);
        if (c == 0) {
            while (mid > 0 && strcmp(e[mid - 1].name, name) == 0)
                mid--;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Entries of every story's key (only file-name keys when names_only), sorted. */
static struct entry *key_index(const struct items *stories, bool names_only, int *m)
{
    int n = stories->n, i;
    struct entry *e = calloc((size_t)n + 1, sizeof(*e));

    *m = 0;
    if (e == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        const cJSON *st = stories->v[i];
        const char *k = s_of(st, "key");
        if (*k == '\0' || (names_only && strcmp(s_of(st, "key_source"), "title") == 0))
            continue;
        e[*m].name = k;
        e[(*m)++].idx = i;
    }
    qsort(e, (size_t)*m, sizeof(*e), by_name);
    return e;
}

static bool active(const char *status)
{
    return strcmp(status, "InProgress") == 0 || strcmp(status, "Review") == 0;
}

/* What names a story in a fingerprint: its key when no other story has it, else its path. */
static const char *ident(const struct items *stories, const struct entry *keys, int nk, int i)
{
    const cJSON *st = stories->v[i];
    const char *k = s_of(st, "key");
    int at = *k != '\0' ? find(keys, nk, k) : -1;

    if (at < 0 || (at + 1 < nk && strcmp(keys[at + 1].name, k) == 0))
        return s_of(st, "path");
    return k;
}

/* One shared file of two active stories (a < b). */
struct triple {
    int a, b;
    const char *file;
};

static int by_pair(const void *x, const void *y)
{
    const struct triple *p = x, *q = y;

    if (p->a != q->a)
        return (p->a > q->a) - (p->a < q->a);
    if (p->b != q->b)
        return (p->b > q->b) - (p->b < q->b);
    return strcmp(p->file, q->file);
}

static void file_overlaps(const struct items *stories, const struct entry *all, int nall,
                          cJSON *out)
{
    int n = stories->n, i, j, k, m = 0, cap = 0, nt = 0, tcap = 0;
    struct entry *e = NULL;
    struct triple *t = NULL;
    char fp[700], summary[700];
    const cJSON *st, *f;

    /* every (file, story) of the active stories, sorted by file */
    for (i = 0; i < n; i++) {
        st = stories->v[i];
        if (!active(s_of(st, "status")))
            continue;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(st, "files"))
        {
            if (!cJSON_IsString(f) || f->valuestring[0] == '\0')
                continue;
            if (m == cap) {
                struct entry *ne = realloc(e, (size_t)(cap = cap * 2 + 64) * sizeof(*e));
                if (ne == NULL)
                    goto out;
                e = ne;
            }
            e[m].name = f->valuestring;
            e[m++].idx = i;
        }
    }
    if (m > 1)
        qsort(e, (size_t)m, sizeof(*e), by_name);
    /* each group of one file: a triple per pair of distinct stories */
    for (i = 0; i < m; i = j) {
        for (j = i + 1; j < m && strcmp(e[j].name, e[i].name) == 0; j++)
            ;
        for (k = i; k < j; k++) {
            int l;
            for (l = k + 1; l < j; l++) {
                if (e[k].idx == e[l].idx)
                    continue;
                if (nt == tcap) {
                    struct triple *ntr = realloc(t, (size_t)(tcap = tcap * 2 + 64) * sizeof(*t));
                    if (ntr == NULL)
                        goto out;
                    t = ntr;
                }
                t[nt].a = e[k].idx < e[l].idx ? e[k].idx : e[l].idx;
                t[nt].b = e[k].idx < e[l].idx ? e[l].idx : e[k].idx;
                t[nt++].file = e[k].name;
            }
        }
    }
    if (nt > 1)
        qsort(t, (size_t)nt, sizeof(*t), by_pair);
    /* each group of one pair: one finding */
    for (i = 0; i < nt; i = j) {
        const cJSON *sa = stories->v[t[i].a], *sb = stories->v[t[i].b];
        const char *ka = ident(stories, all, nall, t[i].a), *kb = ident(stories, all, nall, t[i].b);
        bool swap = strcmp(ka, kb) > 0;
        const cJSON *lo_s = swap ? sb : sa, *hi_s = swap ? sa : sb;
        const char *lo = swap ? kb : ka, *hi = swap ? ka : kb;
        cJSON *d = cJSON_CreateObject(), *sts, *paths, *files, *states;
        int nf = 0;
        sts = cJSON_AddArrayToObject(d, "stories");
        cJSON_AddItemToArray(sts, cJSON_CreateString(s_of(lo_s, "key")));
        cJSON_AddItemToArray(sts, cJSON_CreateString(s_of(hi_s, "key")));
        paths = cJSON_AddArrayToObject(d, "paths");
        cJSON_AddItemToArray(paths, cJSON_CreateString(s_of(lo_s, "path")));
        cJSON_AddItemToArray(paths, cJSON_CreateString(s_of(hi_s, "path")));
        states = cJSON_AddArrayToObject(d, "statuses");
        cJSON_AddItemToArray(states, cJSON_CreateString(s_of(lo_s, "status")));
        cJSON_AddItemToArray(states, cJSON_CreateString(s_of(hi_s, "status")));
        files = cJSON_AddArrayToObject(d, "files");
        for (j = i; j < nt && t[j].a == t[i].a && t[j].b == t[i].b; j++) {
            if (j > i && strcmp(t[j].file, t[j - 1].file) == 0)
                continue;
            cJSON_AddItemToArray(files, cJSON_CreateString(t[j].file));
            nf++;
        }
        snprintf(fp, sizeof(fp), "file_overlap:%s|%s", lo, hi);
        snprintf(summary, sizeof(summary),
                 "Stories %s (%s) and %s (%s) are both active and list %d of the same file(s), "
                 "e.g. %s",
                 lo, s_of(lo_s, "status"), hi, s_of(hi_s, "status"), nf, t[i].file);
        add(out, "file_overlap", fp, "high", summary, d);
    }
out:
    free(t);
    free(e);
}

static void duplicate_keys(const struct items *stories, const struct entry *e, int m, cJSON *out)
{
    int i, j;
    char fp[600], summary[700];

    for (i = 0; i < m; i = j) {
        cJSON *d, *paths;
        struct entry *sorted;
        int k;
        for (j = i + 1; j < m && strcmp(e[j].name, e[i].name) == 0; j++)
            ;
        if (j - i < 2)
            continue;
        sorted = calloc((size_t)(j - i), sizeof(*sorted));
        if (sorted == NULL)
            return;
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "key", e[i].name);
        paths = cJSON_AddArrayToObject(d, "paths");
        /* the paths in order, so details and summary are stable */
        for (k = i; k < j; k++) {
            sorted[k - i].name = s_of(stories->v[e[k].idx], "path");
            sorted[k - i].idx = e[k].idx;
        }
        qsort(sorted, (size_t)(j - i), sizeof(*sorted), by_name);
        for (k = 0; k < j - i; k++)
            cJSON_AddItemToArray(paths, cJSON_CreateString(sorted[k].name));
        free(sorted);
        snprintf(fp, sizeof(fp), "duplicate_key:%s", e[i].name);
        snprintf(summary, sizeof(summary), "Story key %s is used by %s and %s%s", e[i].name,
                 cJSON_GetArrayItem(paths, 0)->valuestring,
                 cJSON_GetArrayItem(paths, 1)->valuestring, j - i > 2 ? " and more" : "");
        add(out, "duplicate_key", fp, "medium", summary, d);
    }
}

static void key_mismatches(const cJSON *stories, cJSON *out)
{
    const cJSON *st;
    char fp[4200], summary[700];

    cJSON_ArrayForEach(st, stories)
    {
        const char *k = s_of(st, "key"), *tk = s_of(st, "title_key");
        cJSON *d;
        if (*k == '\0' || *tk == '\0' || strcmp(s_of(st, "key_source"), "name") != 0 ||
            strcmp(k, tk) == 0)
            continue;
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "path", s_of(st, "path"));
        cJSON_AddStringToObject(d, "key", k);
        cJSON_AddStringToObject(d, "title_key", tk);
        snprintf(fp, sizeof(fp), "key_mismatch:%s", s_of(st, "path"));
        snprintf(summary, sizeof(summary),
                 "%.400s is story %s by its file name but its title says %s", s_of(st, "path"), k,
                 tk);
        add(out, "key_mismatch", fp, "low", summary, d);
    }
}

/* Done stories whose current gate (the latest by updated, then by path) says FAIL. */
static void gate_violations(const struct items *stories, const struct entry *keys, int nk,
                            const struct items *gates, cJSON *out)
{
    int ng = gates->n, i, j;
    struct entry *ge = calloc((size_t)ng + 1, sizeof(*ge));
    char fp[600], summary[700];

    if (ge == NULL)
        return;
    for (i = 0; i < ng; i++) {
        ge[i].name = s_of(gates->v[i], "key");
        ge[i].idx = i;
    }
    qsort(ge, (size_t)ng, sizeof(*ge), by_name);
    for (i = 0; i < nk; i++) {
        const cJSON *st = stories->v[keys[i].idx], *cur = NULL;
        cJSON *d;
        if ((i > 0 && strcmp(keys[i - 1].name, keys[i].name) == 0) ||
            strcmp(s_of(st, "status"), "Done") != 0)
            continue;
        for (j = find(ge, ng, keys[i].name);
             j >= 0 && j < ng && strcmp(ge[j].name, keys[i].name) == 0; j++) {
            const cJSON *g = gates->v[ge[j].idx];
            int c = cur == NULL ? 1 : strcmp(s_of(g, "updated"), s_of(cur, "updated"));
            if (c > 0 || (c == 0 && strcmp(s_of(g, "path"), s_of(cur, "path")) > 0))
                cur = g;
        }
        if (cur == NULL || strcmp(s_of(cur, "decision"), "FAIL") != 0)
            continue;
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "story", keys[i].name);
        cJSON_AddStringToObject(d, "gate", s_of(cur, "path"));
        cJSON_AddStringToObject(d, "decision", "FAIL");
        snprintf(fp, sizeof(fp), "gate_violation:%s", keys[i].name);
        snprintf(summary, sizeof(summary), "Story %s is Done but its QA gate says FAIL",
                 keys[i].name);
        add(out, "gate_violation", fp, "critical", summary, d);
    }
    free(ge);
}

static void status_mismatches(const cJSON *stories, const cJSON *sprints, cJSON *out)
{
    const cJSON *sp, *kv, *st;
    int ns = 0;
    struct entry *se;
    const char **sv;
    char fp[600], summary[700];

    cJSON_ArrayForEach(sp, sprints)
    {
        ns += cJSON_GetArraySize(sp);
    }
    se = calloc((size_t)ns + 1, sizeof(*se));
    sv = calloc((size_t)ns + 1, sizeof(*sv));
    if (se == NULL || sv == NULL)
        goto out;
    ns = 0;
    cJSON_ArrayForEach(sp, sprints)
    {
        cJSON_ArrayForEach(kv, sp)
        {
            if (kv->string == NULL || !cJSON_IsString(kv))
                continue;
            se[ns].name = kv->string;
            se[ns].idx = ns;
            sv[ns++] = kv->valuestring;
        }
    }
    qsort(se, (size_t)ns, sizeof(*se), by_name);
    cJSON_ArrayForEach(st, stories)
    {
        const char *k = s_of(st, "key"), *status = s_of(st, "status");
        int at = *k != '\0' ? find(se, ns, k) : -1;
        const char *want = at >= 0 ? sv[se[at].idx] : "";
        cJSON *d;
        if (*want == '\0' || *status == '\0' || strcmp(status, "Missing") == 0 ||
            strcmp(want, status) == 0)
            continue;
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "story", k);
        cJSON_AddStringToObject(d, "file_status", status);
        cJSON_AddStringToObject(d, "sprint_status", want);
        snprintf(fp, sizeof(fp), "status_mismatch:%s", k);
        snprintf(summary, sizeof(summary), "Story %s says %s but sprint-status.yaml says %.200s", k,
                 status, want);
        add(out, "status_mismatch", fp, "low", summary, d);
    }
out:
    free(se);
    free(sv);
}

/* Two agents on one story (agents come ordered by id: a stable fingerprint). */
static void agent_overlaps(const struct items *agents, cJSON *out)
{
    int n = agents->n, i, j;
    char fp[600], summary[700];

    for (i = 0; i < n; i++) {
        const cJSON *a = agents->v[i], *b;
        cJSON *names = NULL, *ids = NULL, *d;
        for (j = 0; j < i; j++)
            if (strcmp(s_of(agents->v[j], "story"), s_of(a, "story")) == 0)
                break;
        if (j < i)
            continue; /* this story was handled at its first agent */
        for (j = i; j < n; j++) {
            b = agents->v[j];
            if (strcmp(s_of(b, "story"), s_of(a, "story")) != 0)
                continue;
            if (ids == NULL) {
                ids = cJSON_CreateArray();
                names = cJSON_CreateArray();
            }
            cJSON_AddItemToArray(ids, cJSON_CreateString(s_of(b, "agent")));
            cJSON_AddItemToArray(names, cJSON_CreateString(s_of(b, "name")));
        }
        if (cJSON_GetArraySize(ids) < 2) {
            cJSON_Delete(ids);
            cJSON_Delete(names);
            continue;
        }
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "story", s_of(a, "story"));
        cJSON_AddItemToObject(d, "agents", ids);
        cJSON_AddItemToObject(d, "agent_names", names);
        snprintf(fp, sizeof(fp), "agent_overlap:%s", s_of(a, "story"));
        snprintf(summary, sizeof(summary), "%d agents report working on story %s",
                 cJSON_GetArraySize(ids), s_of(a, "story"));
        add(out, "agent_overlap", fp, "high", summary, d);
    }
}

/* Drops every finding whose fingerprint an earlier one has: one row per fingerprint. */
static void unique_fingerprints(cJSON *out)
{
    int n = cJSON_GetArraySize(out), i, m = 0;
    struct entry *e = calloc((size_t)n + 1, sizeof(*e));
    bool *drop = calloc((size_t)n + 1, sizeof(*drop));
    cJSON *c, *next;

    if (e == NULL || drop == NULL)
        goto out;
    i = 0;
    cJSON_ArrayForEach(c, out)
    {
        e[m].name = s_of(c, "fingerprint");
        e[m++].idx = i++;
    }
    qsort(e, (size_t)m, sizeof(*e), by_name);
    for (i = 1; i < m; i++)
        if (strcmp(e[i].name, e[i - 1].name) == 0)
            drop[e[i].idx] = true; /* sorted by index within a name: the first one stays */
    i = 0;
    for (c = out->child; c != NULL; c = next, i++) {
        next = c->next;
        if (drop[i])
            cJSON_Delete(cJSON_DetachItemViaPointer(out, c));
    }
out:
    free(e);
    free(drop);
}

cJSON *jc_findings_compute(const cJSON *state)
{
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(state, "stories");
    cJSON *out = cJSON_CreateArray();
    struct items stories = {NULL, 0}, gates = {NULL, 0}, agents = {NULL, 0};
    struct entry *all = NULL, *names = NULL;
    int nall = 0, nnames = 0;

    if (out == NULL)
        return NULL;
    if (!items_of(raw, &stories) ||
        !items_of(cJSON_GetObjectItemCaseSensitive(state, "gates"), &gates) ||
        !items_of(cJSON_GetObjectItemCaseSensitive(state, "agents"), &agents))
        goto fail;
    all = key_index(&stories, false, &nall);
    names = key_index(&stories, true, &nnames);
    if (all == NULL || names == NULL)
        goto fail;
    file_overlaps(&stories, all, nall, out);
    duplicate_keys(&stories, names, nnames, out);
    gate_violations(&stories, all, nall, &gates, out);
    key_mismatches(raw, out);
    status_mismatches(raw, cJSON_GetObjectItemCaseSensitive(state, "sprint"), out);
    agent_overlaps(&agents, out);
    unique_fingerprints(out);
    goto done;
fail:
    cJSON_Delete(out);
    out = NULL;
done:
    free(all);
    free(names);
    free(stories.v);
    free(gates.v);
    free(agents.v);
    return out;
}

cJSON *jc_findings_state(const cJSON *rows, const cJSON *gates, const cJSON *agents)
{
    cJSON *state = cJSON_CreateObject();
    cJSON *stories = cJSON_AddArrayToObject(state, "stories");
    cJSON *gs = cJSON_AddArrayToObject(state, "gates");
    cJSON *sprint = cJSON_AddArrayToObject(state, "sprint");
    const cJSON *r, *g;

    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(r, "meta");
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(meta, "sprint_status");
        cJSON *s;
        if (cJSON_IsObject(map))
            cJSON_AddItemToArray(sprint, cJSON_Duplicate(map, 1));
        if (strcmp(s_of(r, "kind"), "story") != 0)
            continue;
        s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "path", s_of(r, "path"));
        cJSON_AddStringToObject(s, "key", s_of(r, "key"));
        cJSON_AddStringToObject(s, "key_source", s_of(meta, "key_source"));
        cJSON_AddStringToObject(s, "title_key", s_of(meta, "title_key"));
        cJSON_AddStringToObject(s, "status", s_of(r, "status"));
        cJSON_AddItemToObject(
            s, "files",
            cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(meta, "files"))
                ? cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(meta, "files"), 1)
                : cJSON_CreateArray());
        cJSON_AddItemToArray(stories, s);
    }
    cJSON_ArrayForEach(g, gates)
    {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "key", s_of(g, "story_key"));
        cJSON_AddStringToObject(x, "decision", s_of(g, "decision"));
        cJSON_AddStringToObject(x, "path", s_of(g, "path"));
        cJSON_AddStringToObject(x, "updated", s_of(g, "updated"));
        cJSON_AddItemToArray(gs, x);
    }
    cJSON_AddItemToObject(state, "agents",
                          agents != NULL ? cJSON_Duplicate(agents, 1) : cJSON_CreateArray());
    return state;
}
