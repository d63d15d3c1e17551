/* SPDX-License-Identifier: MIT */
/* policy.c: the policy file as cJSON (jc_yaml_to_json), checked field by field, then matched. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jc/bmad.h"
#include "jc/parse.h"
#include "jc/policy.h"

#define MAX_POLICY_BYTES (1 << 20)

void jc_policy_free(struct jc_policy *p)
{
    size_t i, j;

    if (p == NULL)
        return;
    for (i = 0; i < p->n_roles; i++) {
        struct jc_policy_role *r = &p->roles[i];
        for (j = 0; r->tools != NULL && r->tools[j] != NULL; j++)
            free(r->tools[j]);
        free(r->tools);
        for (j = 0; j < r->n_limits; j++)
            free(r->limits[j].tool);
        free(r->limits);
        free(r->name);
    }
    free(p->roles);
    for (i = 0; i < p->n_subjects; i++) {
        free(p->subjects[i].sub);
        free(p->subjects[i].org);
        free(p->subjects[i].scope);
        free(p->subjects[i].token_role);
    }
    free(p->subjects);
    free(p);
}

/* A positive integer field (YAML scalars come as strings); false with err when it is not. */
static bool number(const cJSON *v, const char *where, long max, long *out, char *err, size_t errlen)
{
    const char *s = cJSON_GetStringValue(v);

    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= (double)max) {
        *out = (long)v->valuedouble;
        return true;
    }
    if (s != NULL && jc_parse_long(s, 1, max, out) == JC_OK)
        return true;
    snprintf(err, errlen, "%s: must be a whole number from 1 to %ld", where, max);
    return false;
}

static bool name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static long role_index(const struct jc_policy *p, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < p->n_roles; i++)
        if (strcmp(p->roles[i].name, name) == 0)
            return (long)i;
    return -1;
}

static bool parse_role(struct jc_policy_role *r, const cJSON *def, char *err, size_t errlen)
{
    const cJSON *tools = cJSON_GetObjectItem(def, "tools"), *t, *k;
    const cJSON *limits = cJSON_GetObjectItem(def, "tool_limits");
    char where[200];
    size_t n = 0;

    cJSON_ArrayForEach(k, def)
    {
        if (strcmp(k->string, "tools") != 0 && strcmp(k->string, "rate_per_minute") != 0 &&
            strcmp(k->string, "tool_limits") != 0) {
            snprintf(err, errlen,
                     "roles.%s: unknown field '%.40s' (tools, rate_per_minute, "
                     "tool_limits)",
                     r->name, k->string);
            return false;
        }
    }
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0) {
        snprintf(err, errlen, "roles.%s.tools: must be a list of tool names or patterns", r->name);
        return false;
    }
    r->tools = calloc((size_t)cJSON_GetArraySize(tools) + 1, sizeof(char *));
    if (r->tools == NULL)
        goto nomem;
    cJSON_ArrayForEach(t, tools)
    {
        const char *s = cJSON_GetStringValue(t);
        if (s == NULL || s[0] == '\0' || strlen(s) > 100 ||
            strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.*?[]-") != strlen(s)) {
            snprintf(err, errlen, "roles.%s.tools: '%.40s' is not a tool name or pattern", r->name,
                     s != NULL ? s : "(not a string)");
            return false;
        }
        if ((r->tools[n++] = strdup(s)) == NULL)
            goto nomem;
    }
    if (cJSON_GetObjectItem(def, "rate_per_minute") != NULL) {
        snprintf(where, sizeof(where), "roles.%s.rate_per_minute", r->name);
        if (!number(cJSON_GetObjectItem(def, "rate_per_minute"), where, 1000000,
                    &r->rate_per_minute, err, errlen))
            return false;
    }
    if (limits != NULL && !cJSON_IsObject(limits)) {
        snprintf(err, errlen, "roles.%s.tool_limits: must map tool names to limits", r->name);
        return false;
    }
    r->limits = calloc((size_t)cJSON_GetArraySize(limits) + 1, sizeof(*r->limits));
    if (r->limits == NULL)
        goto nomem;
    cJSON_ArrayForEach(t, limits)
    {
        struct jc_policy_limit *l = &r->limits[r->n_limits];
        const cJSON *f;
        if (!name_ok(t->string) || !cJSON_IsObject(t)) {
            snprintf(err, errlen,
                     "roles.%s.tool_limits.%.40s: must be a tool name with "
                     "rate_per_minute and/or concurrency",
                     r->name, t->string);
            return false;
        }
        cJSON_ArrayForEach(f, t)
        {
            snprintf(where, sizeof(where), "roles.%s.tool_limits.%s.%s", r->name, t->string,
                     f->string);
            if (strcmp(f->string, "rate_per_minute") == 0) {
                if (!number(f, where, 1000000, &l->rate_per_minute, err, errlen))
                    return false;
            } else if (strcmp(f->string, "concurrency") == 0) {
                if (!number(f, where, 10000, &l->concurrency, err, errlen))
                    return false;
            } else {
                snprintf(err, errlen, "%s: unknown field (rate_per_minute, concurrency)", where);
                return false;
            }
        }
        if ((l->tool = strdup(t->string)) == NULL)
            goto nomem;
        r->n_limits++;
    }
    return true;
nomem:
    snprintf(err, errlen, "out of memory");
    return false;
}

static bool parse_subject(struct jc_policy *p, struct jc_policy_subject *s, const cJSON *def,
                          size_t n, char *err, size_t errlen)
{
    const cJSON *f;
    long role = -1;

    if (!cJSON_IsObject(def)) {
        snprintf(err, errlen, "subjects[%zu]: must be a rule such as {sub: ci-bot, role: reader}",
                 n);
        return false;
    }
    cJSON_ArrayForEach(f, def)
    {
        const char *v = cJSON_GetStringValue(f);
        char **dst = strcmp(f->string, "sub") == 0          ? &s->sub
                     : strcmp(f->string, "org") == 0        ? &s->org
                     : strcmp(f->string, "scope") == 0      ? &s->scope
                     : strcmp(f->string, "token_role") == 0 ? &s->token_role
                                                            : NULL;
        if (strcmp(f->string, "role") == 0) {
            role = role_index(p, v);
            if (role < 0) {
                snprintf(err, errlen, "subjects[%zu].role: no role '%.40s' under roles", n,
                         v != NULL ? v : "(not a string)");
                return false;
            }
            continue;
        }
        if (dst == NULL || v == NULL || v[0] == '\0' || strlen(v) > 200) {
            snprintf(err, errlen,
                     "subjects[%zu].%.40s: a rule matches sub, org, scope or token_role (a "
                     "non-empty string) and names a role",
                     n, f->string);
            return false;
        }
        if ((*dst = strdup(v)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
    }
    if (role < 0) {
        snprintf(err, errlen, "subjects[%zu]: names no role", n);
        return false;
    }
    if (s->sub == NULL && s->org == NULL && s->scope == NULL && s->token_role == NULL) {
        snprintf(err, errlen,
                 "subjects[%zu]: matches nothing (give sub, org, scope or "
                 "token_role; default_role is for everyone else)",
                 n);
        return false;
    }
    s->role = (size_t)role;
    return true;
}

enum jc_err jc_policy_parse(const char *text, size_t len, struct jc_policy **out, char *err,
                            size_t errlen)
{
    cJSON *doc = jc_yaml_to_json(text, len, err, errlen), *k;
    const cJSON *roles, *subjects, *r;
    struct jc_policy *p = NULL;
    const char *def;

    *out = NULL;
    if (doc == NULL)
        return JC_EINVAL;
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "the policy must be a mapping with roles, subjects, default_role");
        goto fail;
    }
    cJSON_ArrayForEach(k, doc)
    {
        if (strcmp(k->string, "roles") != 0 && strcmp(k->string, "subjects") != 0 &&
            strcmp(k->string, "default_role") != 0) {
            snprintf(err, errlen, "unknown field '%.40s' (roles, subjects, default_role)",
                     k->string);
            goto fail;
        }
    }
    roles = cJSON_GetObjectItem(doc, "roles");
    subjects = cJSON_GetObjectItem(doc, "subjects");
    if (!cJSON_IsObject(roles) || cJSON_GetArraySize(roles) == 0) {
        snprintf(err, errlen, "roles: must name at least one role");
        goto fail;
    }
    if (subjects != NULL && !cJSON_IsArray(subjects)) {
        snprintf(err, errlen, "subjects: must be a list of rules");
        goto fail;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL ||
        (p->roles = calloc((size_t)cJSON_GetArraySize(roles), sizeof(*p->roles))) == NULL ||
        (p->subjects = calloc((size_t)cJSON_GetArraySize(subjects) + 1, sizeof(*p->subjects))) ==
            NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    cJSON_ArrayForEach(r, roles)
    {
        struct jc_policy_role *role = &p->roles[p->n_roles];
        if (!name_ok(r->string) || !cJSON_IsObject(r)) {
            snprintf(err, errlen, "roles.%.40s: a role is a lower-case name with tools", r->string);
            goto fail;
        }
        if ((role->name = strdup(r->string)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        p->n_roles++;
        if (!parse_role(role, r, err, errlen))
            goto fail;
    }
    cJSON_ArrayForEach(r, subjects)
    {
        p->n_subjects++;
        if (!parse_subject(p, &p->subjects[p->n_subjects - 1], r, p->n_subjects - 1, err, errlen))
            goto fail;
    }
    p->default_role = -1;
    def = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "default_role"));
    if (cJSON_GetObjectItem(doc, "default_role") != NULL &&
        (p->default_role = role_index(p, def)) < 0) {
        snprintf(err, errlen, "default_role: no role '%.40s' under roles",
                 def != NULL ? def : "(not a string)");
        goto fail;
    }
    cJSON_Delete(doc);
    *out = p;
    return JC_OK;
fail:
    cJSON_Delete(doc);
    jc_policy_free(p);
    return JC_EINVAL;
}

enum jc_err jc_policy_load(const char *path, struct jc_policy **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *text = NULL, msg[300];
    size_t n;
    enum jc_err rc;

    *out = NULL;
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open", path);
        return JC_EINVAL;
    }
    text = malloc(MAX_POLICY_BYTES + 1);
    n = text != NULL ? fread(text, 1, MAX_POLICY_BYTES + 1, f) : 0;
    fclose(f);
    if (text == NULL || n > MAX_POLICY_BYTES) {
        free(text);
        snprintf(err, errlen, "%s: larger than 1 MiB", path);
        return JC_EINVAL;
    }
    text[n] = '\0';
    rc = jc_policy_parse(text, n, out, msg, sizeof(msg));
    free(text);
    if (rc != JC_OK)
        snprintf(err, errlen, "%s: %s", path, msg);
    return rc;
}

const struct jc_policy_role *jc_policy_role_of(const struct jc_policy *p,
                                               const struct jc_principal *who, size_t *rule)
{
    size_t i;

    for (i = 0; i < p->n_subjects; i++) {
        const struct jc_policy_subject *s = &p->subjects[i];
        if ((s->sub == NULL || strcmp(s->sub, who->sub) == 0) &&
            (s->org == NULL || strcmp(s->org, who->org) == 0) &&
            (s->scope == NULL || jc_scope_has(who->scopes, s->scope)) &&
            (s->token_role == NULL || strcmp(s->token_role, who->role) == 0)) {
            *rule = i + 1;
            return &p->roles[s->role];
        }
    }
    *rule = 0;
    return p->default_role >= 0 ? &p->roles[p->default_role] : NULL;
}

bool jc_policy_allows(const struct jc_policy_role *r, const char *name, const char *alias)
{
    char **t;

    for (t = r->tools; t != NULL && *t != NULL; t++)
        if (fnmatch(*t, name, 0) == 0 || (alias != NULL && fnmatch(*t, alias, 0) == 0))
            return true;
    return false;
}

const struct jc_policy_limit *jc_policy_limit_of(const struct jc_policy_role *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_limits; i++)
        if (strcmp(r->limits[i].tool, name) == 0)
            return &r->limits[i];
    return NULL;
}
