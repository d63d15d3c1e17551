/* SPDX-License-Identifier: MIT */
/*
 * inspect.c: `jivectl inspect <dir>`: what the scanner sees in a local checkout, with no
 * database and no services. The files are read by the same record function the orchestrator
 * uses (jc_bmad_record) and the findings are the same computation (jc_findings_compute), so
 * what this prints is what a scan of the same tree would store.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jc/bmad.h"
#include "jc/clock.h"
#include "jc/findings.h"
#include "inspect.h"

#define FILE_MAX (8u << 20) /* larger files are reported, not read */
#define DEPTH_MAX 32

struct walk {
    const char *root;
    size_t rootlen;
    cJSON *rows;
    cJSON *gates;
    cJSON *problems;
    size_t files;
};

static void problem(struct walk *w, const char *path, const char *msg)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "path", path);
    cJSON_AddStringToObject(e, "error", msg);
    cJSON_AddItemToArray(w->problems, e);
}

static char *read_all(const char *full, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(full, "rb");
    struct stat st;
    char *buf = NULL;

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
        goto out;
    }
    if ((size_t)st.st_size > FILE_MAX) {
        snprintf(err, errlen, "larger than %u MiB: not read", FILE_MAX >> 20);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    *len = fread(buf, 1, (size_t)st.st_size, f);
    buf[*len] = '\0';
out:
    if (f != NULL)
        fclose(f);
    return buf;
}

static void visit_file(struct walk *w, const char *full)
{
    const char *rel = full + w->rootlen + 1;
    enum jc_artifact_kind kind = jc_bmad_classify(rel, NULL, 0);
    char err[200];
    size_t len = 0;
    char *text;
    cJSON *row, *gate = NULL;

    if (kind == JC_KIND_NONE)
        return;
    w->files++;
    text = read_all(full, &len, err, sizeof(err));
    if (text == NULL) {
        problem(w, rel, err);
        return;
    }
    row = jc_bmad_record(rel, kind, text, len, &gate);
    free(text);
    if (row == NULL) {
        problem(w, rel, "out of memory");
        return;
    }
    {
        const char *pe = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(row, "meta"), "parse_error"));
        if (pe != NULL)
            problem(w, rel, pe);
    }
    if (gate != NULL)
        cJSON_AddItemToArray(w->gates, gate);
    cJSON_AddItemToArray(w->rows, row);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Depth-first in name order, so the output is stable; .git and node_modules are skipped and
 * symbolic links are not followed (a scan reads git's tree, where a link is no file). */
static void visit_dir(struct walk *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;

    if (d == NULL || depth > DEPTH_MAX) {
        if (d != NULL)
            closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, ".git") == 0 || strcmp(e->d_name, "node_modules") == 0)
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap * 2 + 32) * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), by_string);
    for (i = 0; i < n; i++) {
        char full[PATH_MAX];
        struct stat st;
        if (snprintf(full, sizeof(full), "%s/%s", dir, names[i]) < (int)sizeof(full) &&
            lstat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                visit_dir(w, full, depth + 1);
            else if (S_ISREG(st.st_mode))
                visit_file(w, full);
        }
        free(names[i]);
    }
    free(names);
}

static const char *s_of(const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    return v != NULL ? v : "";
}

static int i_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static void count(cJSON *obj, const char *name)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (c == NULL)
        cJSON_AddNumberToObject(obj, name, 1);
    else
        cJSON_SetNumberValue(c, c->valuedouble + 1);
}

/* Expired: expires (ISO-8601 as written) before now; a date alone counts from its start. */
static bool expired(const char *expires, const char *now)
{
    return expires[0] != '\0' && strcmp(expires, now) < 0;
}

static cJSON *summary(const cJSON *rows, const cJSON *gates, const cJSON *findings, const char *now)
{
    cJSON *s = cJSON_CreateObject();
    cJSON *by_status = cJSON_AddObjectToObject(s, "stories");
    cJSON *by_decision = cJSON_AddObjectToObject(s, "gates");
    cJSON *by_kind = cJSON_AddObjectToObject(s, "findings");
    const cJSON *r;
    int nexp = 0;

    cJSON_ArrayForEach(r, rows)
    {
        if (strcmp(s_of(r, "kind"), "story") == 0)
            count(by_status, s_of(r, "status"));
    }
    cJSON_ArrayForEach(r, gates)
    {
        count(by_decision, s_of(r, "decision"));
        nexp += expired(s_of(r, "expires"), now);
    }
    cJSON_ArrayForEach(r, findings)
    {
        count(by_kind, s_of(r, "kind"));
    }
    cJSON_AddNumberToObject(s, "expired_gates", nexp);
    cJSON_AddNumberToObject(s, "findings_total", cJSON_GetArraySize(findings));
    return s;
}

static void print_counts(const char *title, const cJSON *obj)
{
    const cJSON *c;

    printf("%s:", title);
    if (cJSON_GetArraySize(obj) == 0)
        printf(" none");
    cJSON_ArrayForEach(c, obj)
    {
        printf(" %s %d", c->string, c->valueint);
    }
    printf("\n");
}

static void print_text(const char *dir, size_t files, const cJSON *rows, const cJSON *gates,
                       const cJSON *findings, const cJSON *problems, const cJSON *sum,
                       const char *now)
{
    const cJSON *r, *e;
    int nstories = 0, nother = 0;

    cJSON_ArrayForEach(r, rows)
    {
        if (strcmp(s_of(r, "kind"), "story") == 0)
            nstories++;
        else if (strcmp(s_of(r, "kind"), "qa_gate") != 0)
            nother++;
    }
    printf("%s: %zu BMAD files: %d stories, %d gates, %d planning and status files\n\n", dir, files,
           nstories, cJSON_GetArraySize(gates), nother);
    printf("Stories (%d)\n", nstories);
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(r, "meta");
        if (strcmp(s_of(r, "kind"), "story") != 0)
            continue;
        printf("  %-8s %-10s %s\n", s_of(r, "key")[0] != '\0' ? s_of(r, "key") : "-",
               s_of(r, "status"), s_of(r, "path"));
        if (s_of(meta, "parse_error")[0] != '\0') {
            printf("           problem: %s\n", s_of(meta, "parse_error"));
            continue;
        }
        printf("           title: %s\n", s_of(r, "title"));
        if (s_of(meta, "raw_status")[0] != '\0')
            printf("           status as written: %s\n", s_of(meta, "raw_status"));
        if (s_of(meta, "title_key")[0] != '\0' &&
            strcmp(s_of(meta, "title_key"), s_of(r, "key")) != 0)
            printf("           title names story %s\n", s_of(meta, "title_key"));
        printf("           tasks %d/%d (every checkbox %d/%d)\n", i_of(meta, "tasks_done"),
               i_of(meta, "tasks_total"), i_of(meta, "checks_done"), i_of(meta, "checks_total"));
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(meta, "file_list"))
        {
            printf("           %s %s%s%s%s%s\n",
                   cJSON_IsTrue(cJSON_GetObjectItem(e, "external")) ? "external" : "file    ",
                   s_of(e, "path"), s_of(e, "label")[0] != '\0' ? "  [" : "", s_of(e, "label"),
                   s_of(e, "label")[0] != '\0' ? "]" : "", s_of(e, "note")[0] != '\0' ? "  …" : "");
        }
    }
    printf("\nGates (%d)\n", cJSON_GetArraySize(gates));
    cJSON_ArrayForEach(r, gates)
    {
        printf("  %-8s %-9s%s%s%s %s\n",
               s_of(r, "story_key")[0] != '\0' ? s_of(r, "story_key") : "-", s_of(r, "decision"),
               strcmp(s_of(r, "decision"), "Other") == 0 ? " (" : "",
               strcmp(s_of(r, "decision"), "Other") == 0 ? s_of(r, "raw_decision") : "",
               strcmp(s_of(r, "decision"), "Other") == 0 ? ")" : "",
               expired(s_of(r, "expires"), now) ? "expired" : "");
        printf("           %s\n", s_of(r, "path"));
    }
    printf("\nFindings (%d)\n", cJSON_GetArraySize(findings));
    cJSON_ArrayForEach(r, findings)
    {
        printf("  [%s] %s: %s\n", s_of(r, "severity"), s_of(r, "kind"), s_of(r, "summary"));
    }
    printf("\nProblems (%d)\n", cJSON_GetArraySize(problems));
    cJSON_ArrayForEach(r, problems)
    {
        printf("  %s: %s\n", s_of(r, "path"), s_of(r, "error"));
    }
    printf("\n");
    print_counts("stories by status", cJSON_GetObjectItem(sum, "stories"));
    print_counts("gates by decision", cJSON_GetObjectItem(sum, "gates"));
    printf("expired gates: %d\n", cJSON_GetObjectItem(sum, "expired_gates")->valueint);
    print_counts("findings by kind", cJSON_GetObjectItem(sum, "findings"));
}

int jivectl_inspect(const char *dir, bool json)
{
    struct walk w = {0};
    char root[PATH_MAX], now[JC_ISO_LEN];
    cJSON *state = NULL, *findings = NULL, *sum = NULL;
    struct stat st;
    int rc = 1;

    if (realpath(dir, root) == NULL || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "jivectl: %s is not a directory\n", dir);
        return 1;
    }
    jc_clock_iso(now);
    w.root = root;
    w.rootlen = strlen(root);
    w.rows = cJSON_CreateArray();
    w.gates = cJSON_CreateArray();
    w.problems = cJSON_CreateArray();
    visit_dir(&w, root, 0);
    state = jc_findings_state(w.rows, w.gates, NULL);
    findings = state != NULL ? jc_findings_compute(state) : NULL;
    if (findings == NULL) {
        fprintf(stderr, "jivectl: out of memory\n");
        goto out;
    }
    sum = summary(w.rows, w.gates, findings, now);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        const cJSON *g;
        char *text;
        cJSON_ArrayForEach(g, w.gates)
        {
            cJSON_AddBoolToObject((cJSON *)g, "expired", expired(s_of(g, "expires"), now));
        }
        cJSON_AddStringToObject(o, "root", root);
        cJSON_AddNumberToObject(o, "files", (double)w.files);
        cJSON_AddItemReferenceToObject(o, "artifacts", w.rows);
        cJSON_AddItemReferenceToObject(o, "gates", w.gates);
        cJSON_AddItemReferenceToObject(o, "findings", findings);
        cJSON_AddItemReferenceToObject(o, "problems", w.problems);
        cJSON_AddItemReferenceToObject(o, "summary", sum);
        text = cJSON_Print(o);
        cJSON_Delete(o);
        if (text == NULL) {
            fprintf(stderr, "jivectl: out of memory\n");
            goto out;
        }
        printf("%s\n", text);
        cJSON_free(text);
    } else {
        print_text(root, w.files, w.rows, w.gates, findings, w.problems, sum, now);
    }
    rc = 0;
out:
    cJSON_Delete(sum);
    cJSON_Delete(findings);
    cJSON_Delete(state);
    cJSON_Delete(w.rows);
    cJSON_Delete(w.gates);
    cJSON_Delete(w.problems);
    return rc;
}
