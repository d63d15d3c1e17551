/* SPDX-License-Identifier: MIT */
/* bmad.c: BMAD path classification, story and QA gate parsing, sprint-status.yaml. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "jc/bmad.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 100000

/* ---- small string helpers ---- */

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Trims ASCII space at both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)(*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static bool starts_ci(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);

    return n >= k && strncasecmp(s, prefix, k) == 0;
}

/*
 * Lower-cased copy of s without markdown decoration (*, _, `, #) and without non-ASCII bytes
 * (emoji), runs of space and punctuation folded to one space.
 */
static void plain_lower(const char *s, size_t n, char *out, size_t outlen)
{
    size_t i, o = 0;
    bool space = true;

    for (i = 0; i < n && o + 1 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || c == '*' || c == '`' || c == '#')
            continue;
        if (isalnum(c)) {
            out[o++] = (char)tolower(c);
            space = false;
        } else if (!space) {
            out[o++] = ' ';
            space = true;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

/* ---- classification and keys ---- */

const char *jc_bmad_kind_name(enum jc_artifact_kind kind)
{
    static const char *const names[] = {NULL,    "prd",     "architecture",  "epic",
                                        "story", "qa_gate", "sprint_status", "other"};

    return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : NULL;
}

/*
 * Reads a dotted key at s ("2.3", "2.5a", "6.3.1") followed by sep_chars or end; with dash
 * true, "1-2-" style (v6) is read as "1.2". Returns the number of characters used, 0 if none.
 */
static size_t read_key(const char *s, bool dash, char *key, size_t keylen)
{
    size_t i = 0, o = 0, parts = 0;
    char sep = dash ? '-' : '.';

    for (;;) {
        size_t start = i;
        while (isdigit((unsigned char)s[i]))
            i++;
        if (i == start || i - start > 4)
            break;
        /* an optional one-letter suffix on a part: 2.5a */
        if (islower((unsigned char)s[i]) && !isalpha((unsigned char)s[i + 1]))
            i++;
        if (o + (i - start) + 2 >= keylen)
            return 0;
        if (parts > 0)
            key[o++] = '.';
        memcpy(key + o, s + start, i - start);
        o += i - start;
        parts++;
        if (s[i] != sep || !isdigit((unsigned char)s[i + 1]) || (dash && parts == 2))
            break;
        i++;
    }
    key[o] = '\0';
    if (parts < 2) {
        key[0] = '\0';
        return 0;
    }
    return i;
}

/* The key a file name carries: 2.3.slug.md, 2.3.story.md, story-6.4-x.md, 1-2-slug.md. */
static void key_from_name(const char *name, char *key, size_t keylen)
{
    const char *s = name;

    key[0] = '\0';
    if (strncasecmp(s, "story-", 6) == 0 || strncasecmp(s, "story_", 6) == 0)
        s += 6;
    else if (strncasecmp(s, "story", 5) == 0 && isdigit((unsigned char)s[5]))
        s += 5;
    if (read_key(s, false, key, keylen) > 0)
        return;
    read_key(s, true, key, keylen);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

enum jc_artifact_kind jc_bmad_classify(const char *path, char *key, size_t keylen)
{
    const char *name = strrchr(path, '/');
    char tmp[64] = "";
    bool md, yml;

    name = name != NULL ? name + 1 : path;
    if (key == NULL) {
        key = tmp;
        keylen = sizeof(tmp);
    }
    key[0] = '\0';
    md = has_suffix(name, ".md");
    yml = has_suffix(name, ".yml") || has_suffix(name, ".yaml");
    if (strcmp(name, "sprint-status.yaml") == 0 || strcmp(name, "sprint-status.yml") == 0)
        return JC_KIND_SPRINT_STATUS;
    if (strstr(path, "/archived/") != NULL || strncmp(path, "archived/", 9) == 0)
        return md || yml ? JC_KIND_OTHER : JC_KIND_NONE;
    /* v4 */
    if (strncmp(path, "docs/", 5) == 0) {
        const char *rest = path + 5;
        if (strcmp(rest, "prd.md") == 0 || (strncmp(rest, "prd/", 4) == 0 && md)) {
            if (strncmp(rest, "prd/epic", 8) == 0) {
                return JC_KIND_EPIC;
            }
            return JC_KIND_PRD;
        }
        if (strcmp(rest, "architecture.md") == 0 || (strncmp(rest, "architecture/", 13) == 0 && md))
            return JC_KIND_ARCHITECTURE;
        if ((strncmp(rest, "epics/", 6) == 0 || strncmp(rest, "epic", 4) == 0) && md)
            return JC_KIND_EPIC;
        if (strncmp(rest, "stories/", 8) == 0 && md && strchr(rest + 8, '/') == NULL) {
            key_from_name(name, key, keylen);
            return JC_KIND_STORY;
        }
        if (strncmp(rest, "qa/gates/", 9) == 0 && yml) {
            key_from_name(name, key, keylen);
            return JC_KIND_QA_GATE;
        }
        return JC_KIND_NONE;
    }
    /* v6 */
    if (strncmp(path, "_bmad-output/", 13) == 0) {
        const char *rest = path + 13;
        if (strncmp(rest, "planning-artifacts/", 19) == 0 && (md || yml)) {
            if (strncasecmp(name, "prd", 3) == 0)
                return JC_KIND_PRD;
            if (strncasecmp(name, "architecture", 12) == 0)
                return JC_KIND_ARCHITECTURE;
            if (strncasecmp(name, "epic", 4) == 0)
                return JC_KIND_EPIC;
            return JC_KIND_OTHER;
        }
        if (strncmp(rest, "implementation-artifacts/", 25) == 0 && md &&
            strchr(rest + 25, '/') == NULL) {
            key_from_name(name, key, keylen);
            return key[0] != '\0' ? JC_KIND_STORY : JC_KIND_OTHER;
        }
        if (yml && strstr(rest, "gates/") != NULL) {
            key_from_name(name, key, keylen);
            return JC_KIND_QA_GATE;
        }
    }
    return JC_KIND_NONE;
}

/* ---- status ---- */

const char *jc_story_status_name(enum jc_story_status s)
{
    static const char *const names[] = {NULL, "Draft", "Approved", "InProgress", "Review", "Done"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : NULL;
}

enum jc_story_status jc_story_status_parse(const char *raw)
{
    static const struct {
        const char *words;
        enum jc_story_status status;
    } prefixes[] = {
        {"ready for done", JC_STATUS_REVIEW},
        {"ready for review", JC_STATUS_REVIEW},
        {"ready for qa", JC_STATUS_REVIEW},
        {"ready for dev", JC_STATUS_APPROVED}, /* also "ready for development" */
        {"ready to dev", JC_STATUS_APPROVED},
        {"ready for implementation", JC_STATUS_APPROVED},
        {"in progress", JC_STATUS_IN_PROGRESS},
        {"inprogress", JC_STATUS_IN_PROGRESS},
        {"in development", JC_STATUS_IN_PROGRESS},
        {"in review", JC_STATUS_REVIEW},
        {"done", JC_STATUS_DONE},
        {"complete", JC_STATUS_DONE}, /* also "completed" */
        {"finished", JC_STATUS_DONE},
        {"review", JC_STATUS_REVIEW},
        {"qa", JC_STATUS_REVIEW},
        {"wip", JC_STATUS_IN_PROGRESS},
        {"doing", JC_STATUS_IN_PROGRESS},
        {"implementing", JC_STATUS_IN_PROGRESS},
        {"approved", JC_STATUS_APPROVED},
        {"ready", JC_STATUS_APPROVED},
        {"contexted", JC_STATUS_APPROVED},
        {"todo", JC_STATUS_APPROVED},
        {"draft", JC_STATUS_DRAFT},
        {"drafted", JC_STATUS_DRAFT},
        {"backlog", JC_STATUS_DRAFT},
        {"proposed", JC_STATUS_DRAFT},
    };
    char p[160] = "";
    size_t i;

    if (raw == NULL)
        return JC_STATUS_UNKNOWN;
    plain_lower(raw, strlen(raw), p, sizeof(p));
    if (strncmp(p, "status ", 7) == 0)
        memmove(p, p + 7, strlen(p + 7) + 1);
    /* the status is what the line starts with: "Done - all tasks complete", "Done ✅" */
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t k = strlen(prefixes[i].words);
        if (strncmp(p, prefixes[i].words, k) == 0 &&
            (p[k] == '\0' || p[k] == ' ' || strncmp(prefixes[i].words, "complete", 8) == 0 ||
             strncmp(prefixes[i].words, "ready for dev", 13) == 0))
            return prefixes[i].status;
    }
    return JC_STATUS_UNKNOWN;
}

/* ---- story files ---- */

struct line {
    const char *s;
    size_t n;
};

/* Next line of text at *pos (without the newline or \r); false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
    size_t start = *pos, end;

    if (start >= len)
        return false;
    end = start;
    while (end < len && text[end] != '\n')
        end++;
    *pos = end < len ? end + 1 : end;
    l->s = text + start;
    l->n = end - start;
    if (l->n > 0 && l->s[l->n - 1] == '\r')
        l->n--;
    return true;
}

/* The next line outside fenced code blocks (``` ... ```); *in_code carries the fence state. */
static bool next_prose_line(const char *text, size_t len, size_t *pos, struct line *l,
                            bool *in_code)
{
    while (next_line(text, len, pos, l)) {
        const char *t = l->s;
        size_t tn = l->n;
        trim(&t, &tn);
        if (tn >= 3 && strncmp(t, "```", 3) == 0)
            *in_code = !*in_code;
        else if (!*in_code)
            return true;
    }
    return false;
}

/* Markdown heading level (1..6) of l, 0 if it is not a heading; *text gets the heading text. */
static int heading(const struct line *l, struct line *text)
{
    size_t i = 0;

    while (i < l->n && i < 6 && l->s[i] == '#')
        i++;
    if (i == 0 || i >= l->n || l->s[i] != ' ')
        return 0;
    text->s = l->s + i;
    text->n = l->n - i;
    trim(&text->s, &text->n);
    return (int)i;
}

static bool is_path_like(const char *p)
{
    size_t n = strlen(p);

    return n > 0 && n <= 300 && p[0] != '/' && p[0] != '~' && strstr(p, "..") == NULL &&
           strstr(p, "://") == NULL && (strchr(p, '/') != NULL || strchr(p, '.') != NULL) &&
           strpbrk(p, " \t\r\n\v\f|<>") == NULL;
}

/*
 * One File List entry as a repository path, or NULL: "- `src/a.ts` - what it does",
 * "1. NEW: src/b.ts", "| src/c.ts | created |", "- **Modified:** `d/e.py`".
 */
static char *file_entry(struct line l)
{
    static const char *const labels[] = {"new file", "modified file", "new",     "modified",
                                         "created",  "updated",       "deleted", "added",
                                         "changed",  "removed",       "edited",  "renamed"};
    const char *s = l.s, *tick;
    size_t n = l.n, i;
    char *out;

    trim(&s, &n);
    if (n > 0 && s[0] == '|') { /* a table row: the first cell */
        const char *bar = memchr(s + 1, '|', n - 1);
        if (bar == NULL)
            return NULL;
        n = (size_t)(bar - s) - 1;
        s++;
        trim(&s, &n);
        if (n == 0 || s[0] == '-' || s[0] == ':' || strncasecmp(s, "file", 4) == 0 ||
            strncasecmp(s, "path", 4) == 0)
            return NULL;
    } else if (n > 1 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ') {
        s += 2;
        n -= 2;
    } else if (n > 0 && isdigit((unsigned char)s[0])) {
        i = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i + 1 >= n || (s[i] != '.' && s[i] != ')') || s[i + 1] != ' ')
            return NULL;
        s += i + 2;
        n -= i + 2;
    } else {
        return NULL;
    }
    trim(&s, &n);
    if (n >= 4 && s[0] == '[' && s[2] == ']') { /* - [x] path */
        s += 3;
        n -= 3;
        trim(&s, &n);
    }
    while (n >= 2 && s[0] == '*' && s[1] == '*') {
        s += 2;
        n -= 2;
    }
    /* a label before the path: "NEW: x", "**Modified:** x", "Created**:** x" */
    for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        size_t k = strlen(labels[i]), j = k;
        if (n <= k || strncasecmp(s, labels[i], k) != 0)
            continue;
        while (j < n && s[j] == '*')
            j++;
        if (j < n && s[j] == ':') {
            j++;
            while (j < n && (s[j] == '*' || s[j] == ' '))
                j++;
            s += j;
            n -= j;
            break;
        }
    }
    tick = memchr(s, '`', n);
    if (tick != NULL) {
        const char *end = memchr(tick + 1, '`', n - (size_t)(tick + 1 - s));
        if (end == NULL)
            return NULL;
        s = tick + 1;
        n = (size_t)(end - s);
    } else {
        for (i = 0; i < n && !isspace((unsigned char)s[i]); i++)
            ;
        n = i;
    }
    while (n > 0 && strchr(",;:*)", s[n - 1]) != NULL)
        n--;
    if (n >= 2 && s[0] == '.' && s[1] == '/') {
        s += 2;
        n -= 2;
    }
    out = dupn(s, n);
    if (out != NULL && !is_path_like(out)) {
        free(out);
        return NULL;
    }
    return out;
}

static void add_file(struct jc_story *st, char *path)
{
    size_t i;
    char **nf;

    for (i = 0; i < st->nfiles; i++) {
        if (strcmp(st->files[i], path) == 0) {
            free(path);
            return;
        }
    }
    nf = realloc(st->files, (st->nfiles + 2) * sizeof(char *));
    if (nf == NULL) {
        free(path);
        return;
    }
    st->files = nf;
    st->files[st->nfiles++] = path;
    st->files[st->nfiles] = NULL;
}

/* "Story 2.3: Title", "Story 2.3 - Title", "2.3: Title" → key and title. */
static void parse_title(struct line h, struct jc_story *st)
{
    char buf[512], key[64];
    const char *s = buf;
    size_t n = h.n < sizeof(buf) - 1 ? h.n : sizeof(buf) - 1, used;

    /* the heading is a slice of the file, not a string: read_key needs the terminator */
    memcpy(buf, h.s, n);
    buf[n] = '\0';
    if (starts_ci(s, n, "story ")) {
        s += 6;
        n -= 6;
    }
    used = read_key(s, false, key, sizeof(key));
    if (used > 0 && used <= n) {
        const char *t = s + used;
        size_t tn = n - used;
        while (tn > 0 && (*t == ':' || *t == ' ' || *t == '-' || (unsigned char)*t >= 0x80)) {
            t++; /* ':', ' - ', ' – ' (an en dash is UTF-8) */
            tn--;
        }
        st->key = strdup(key);
        st->title = dupn(t, tn);
    } else {
        st->title = dupn(h.s, h.n);
    }
}

/* "**Status:** Done", "Status: Done", "- **Status**: Done" → the value, or false. */
static bool status_label(struct line l, struct line *value)
{
    const char *s = l.s;
    size_t n = l.n;

    trim(&s, &n);
    if (n > 2 && (s[0] == '-' || s[0] == '*') && s[1] == ' ') {
        s += 2;
        n -= 2;
    }
    while (n > 0 && s[0] == '*') {
        s++;
        n--;
    }
    if (!starts_ci(s, n, "status"))
        return false;
    s += 6;
    n -= 6;
    while (n > 0 && (s[0] == '*' || s[0] == ' '))
        s++, n--;
    if (n == 0 || s[0] != ':')
        return false;
    s++;
    n--;
    while (n > 0 && (s[0] == '*' || s[0] == ' '))
        s++, n--;
    trim(&s, &n);
    if (n == 0)
        return false;
    value->s = s;
    value->n = n;
    return true;
}

static bool is_qa_heading(struct line h)
{
    char p[128] = "";

    plain_lower(h.s, h.n, p, sizeof(p));
    return strstr(p, "qa") != NULL || strstr(p, "review") != NULL || strstr(p, "gate") != NULL ||
           strstr(p, "test") != NULL;
}

enum jc_err jc_story_parse(const char *path, const char *text, size_t len, struct jc_story *out,
                           char *err, size_t errlen)
{
    struct line l, h;
    size_t pos = 0;
    int level, files_level = 0;
    bool in_status = false, in_qa = false, in_code = false;
    char key[64] = "";

    memset(out, 0, sizeof(*out));
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        jc_errbuf_set(err, errlen, "%s: not a text file", path);
        return JC_EINVAL;
    }
    while (next_prose_line(text, len, &pos, &l, &in_code)) {
        const char *t = l.s;
        size_t tn = l.n;
        trim(&t, &tn);
        level = heading(&l, &h);
        if (level > 0) {
            char p[64] = "";
            plain_lower(h.s, h.n, p, sizeof(p));
            if (out->title == NULL && level == 1) {
                parse_title(h, out);
                continue;
            }
            if (files_level > 0 && level <= files_level)
                files_level = 0;
            in_status = strcmp(p, "status") == 0 || strcmp(p, "story status") == 0;
            if (strcmp(p, "file list") == 0 || strcmp(p, "files") == 0 ||
                strcmp(p, "files created modified") == 0 || strcmp(p, "file changes") == 0)
                files_level = level;
            if (level <= 2)
                in_qa = is_qa_heading(h) && !in_status;
            continue;
        }
        if (tn == 0)
            continue;
        if (in_status && out->raw_status == NULL) {
            struct line v = {t, tn};
            struct line lab;
            if (status_label(l, &lab))
                v = lab; /* "## Status" followed by "Status: Done" */
            while (v.n > 2 && (v.s[0] == '-' || v.s[0] == '*') && v.s[1] == ' ')
                v.s += 2, v.n -= 2;
            out->raw_status = dupn(v.s, v.n);
            continue;
        }
        if (out->raw_status == NULL && !in_qa) {
            struct line v;
            if (status_label(l, &v)) {
                out->raw_status = dupn(v.s, v.n);
                continue;
            }
        }
        if (tn >= 5 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ' && t[2] == '[' &&
            t[4] == ']' && (t[3] == ' ' || t[3] == 'x' || t[3] == 'X')) {
            out->tasks_total++;
            if (t[3] != ' ')
                out->tasks_done++;
        }
        if (files_level > 0) {
            char *f = file_entry(l);
            if (f != NULL)
                add_file(out, f);
        }
    }
    if (out->raw_status != NULL) {
        /* keep a readable status line: the first 200 bytes of it */
        if (strlen(out->raw_status) > 200)
            out->raw_status[200] = '\0';
        out->status = jc_story_status_parse(out->raw_status);
    }
    if (out->key == NULL) {
        const char *name = strrchr(path, '/');
        key_from_name(name != NULL ? name + 1 : path, key, sizeof(key));
        if (key[0] != '\0')
            out->key = strdup(key);
    }
    if (out->title == NULL) {
        jc_errbuf_set(err, errlen, "%s: no title (a first '# Story X.Y: ...' heading)", path);
        jc_story_clear(out);
        return JC_EINVAL;
    }
    return JC_OK;
}

void jc_story_clear(struct jc_story *s)
{
    size_t i;

    if (s == NULL)
        return;
    free(s->key);
    free(s->title);
    free(s->raw_status);
    for (i = 0; i < s->nfiles; i++)
        free(s->files[i]);
    free(s->files);
    memset(s, 0, sizeof(*s));
}

/* Replaces [from, to) of text with repl; NULL on allocation failure. */
static char *splice(const char *text, size_t len, size_t from, size_t to, const char *repl,
                    size_t *out_len)
{
    size_t rl = strlen(repl), n = len - (to - from) + rl;
    char *out = malloc(n + 1);

    if (out == NULL)
        return NULL;
    memcpy(out, text, from);
    memcpy(out + from, repl, rl);
    memcpy(out + from + rl, text + to, len - to);
    out[n] = '\0';
    *out_len = n;
    return out;
}

char *jc_story_set_status(const char *text, size_t len, const char *status, size_t *out_len)
{
    struct line l, h;
    size_t pos = 0, title_end = 0;
    bool in_status = false, in_qa = false, in_code = false, seen_title = false;
    int level;

    while (next_prose_line(text, len, &pos, &l, &in_code)) {
        const char *t = l.s;
        size_t tn = l.n;
        trim(&t, &tn);
        level = heading(&l, &h);
        if (level > 0) {
            char p[64] = "";
            plain_lower(h.s, h.n, p, sizeof(p));
            if (!seen_title && level == 1) {
                seen_title = true;
                title_end = (size_t)(l.s + l.n - text);
                continue;
            }
            in_status = strcmp(p, "status") == 0 || strcmp(p, "story status") == 0;
            if (level <= 2)
                in_qa = is_qa_heading(h) && !in_status;
            continue;
        }
        if (tn == 0)
            continue;
        if (in_status) {
            struct line v;
            size_t from, to;
            if (status_label(l, &v)) {
                from = (size_t)(v.s - text); /* "Status: Done" under the heading */
                to = from + v.n;
            } else {
                /* the value line, indentation and a list bullet kept */
                while (tn > 2 && (t[0] == '-' || t[0] == '*') && t[1] == ' ') {
                    t += 2;
                    tn -= 2;
                }
                from = (size_t)(t - text);
                to = from + tn;
            }
            return splice(text, len, from, to, status, out_len);
        }
        if (!in_qa) {
            struct line v;
            if (status_label(l, &v)) {
                size_t from = (size_t)(v.s - text), to = from + v.n;
                /* keep closing bold markers that follow the value: "**Status: Done**" */
                while (to > from && text[to - 1] == '*')
                    to--;
                return splice(text, len, from, to, status, out_len);
            }
        }
    }
    /* no status yet: a section after the title (or at the top) */
    {
        char section[96];
        snprintf(section, sizeof(section), "%s## Status\n\n%s\n", title_end > 0 ? "\n\n" : "",
                 status);
        if (title_end == 0)
            snprintf(section, sizeof(section), "## Status\n\n%s\n\n", status);
        return splice(text, len, title_end, title_end, section, out_len);
    }
}

/* ---- YAML ---- */

struct ywalk {
    yaml_document_t *doc;
    size_t visited;
};

static cJSON *node_json(struct ywalk *w, yaml_node_t *node, int depth)
{
    cJSON *out = NULL;

    if (node == NULL || depth > YAML_MAX_DEPTH || ++w->visited > YAML_MAX_NODES)
        return NULL;
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        char *v = dupn((const char *)node->data.scalar.value, node->data.scalar.length);
        out = v != NULL ? cJSON_CreateString(v) : NULL;
        free(v);
        break;
    }
    case YAML_SEQUENCE_NODE: {
        yaml_node_item_t *it;
        out = cJSON_CreateArray();
        for (it = node->data.sequence.items.start;
             out != NULL && it < node->data.sequence.items.top; it++) {
            cJSON *c = node_json(w, yaml_document_get_node(w->doc, *it), depth + 1);
            if (c == NULL) {
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToArray(out, c);
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        yaml_node_pair_t *p;
        out = cJSON_CreateObject();
        for (p = node->data.mapping.pairs.start; out != NULL && p < node->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
            cJSON *v;
            char *ks;
            if (k == NULL || k->type != YAML_SCALAR_NODE)
                continue; /* complex keys are not part of any BMAD file */
            v = node_json(w, yaml_document_get_node(w->doc, p->value), depth + 1);
            ks = dupn((const char *)k->data.scalar.value, k->data.scalar.length);
            if (v == NULL || ks == NULL) {
                free(ks);
                cJSON_Delete(v);
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(out, ks); /* the last duplicate wins */
            cJSON_AddItemToObject(out, ks, v);
            free(ks);
        }
        break;
    }
    case YAML_NO_NODE:
        break;
    }
    return out;
}

cJSON *jc_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct ywalk w = {&doc, 0};
    cJSON *out = NULL;

    if (!yaml_parser_initialize(&parser)) {
        jc_errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        jc_errbuf_set(err, errlen, "invalid YAML at line %zu: %s", parser.problem_mark.line + 1,
                      parser.problem != NULL ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    if (yaml_document_get_root_node(&doc) == NULL) {
        jc_errbuf_set(err, errlen, "empty YAML document");
    } else {
        out = node_json(&w, yaml_document_get_root_node(&doc), 0);
        if (out == NULL)
            jc_errbuf_set(err, errlen, "YAML too deep or too large (aliases?)");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

/* ---- QA gates ---- */

const char *jc_gate_decision_name(enum jc_gate_decision d)
{
    static const char *const names[] = {NULL, "PASS", "CONCERNS", "FAIL", "WAIVED"};

    return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : NULL;
}

static enum jc_gate_decision decision_parse(const char *v)
{
    char p[64] = "";

    if (v == NULL)
        return JC_GATE_UNKNOWN;
    plain_lower(v, strlen(v), p, sizeof(p));
    if (strncmp(p, "pass", 4) == 0)
        return JC_GATE_PASS;
    if (strncmp(p, "concerns", 8) == 0 || strcmp(p, "concern") == 0)
        return JC_GATE_CONCERNS;
    if (strncmp(p, "fail", 4) == 0)
        return JC_GATE_FAIL;
    if (strncmp(p, "waived", 6) == 0 || strcmp(p, "waive") == 0)
        return JC_GATE_WAIVED;
    return JC_GATE_UNKNOWN;
}

static char *str_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

enum jc_err jc_gate_parse(const char *path, const char *text, size_t len, struct jc_gate *out,
                          char *err, size_t errlen)
{
    char yerr[200] = "", key[64] = "";
    cJSON *root = jc_yaml_to_json(text, len, yerr, sizeof(yerr));
    const cJSON *v;
    const char *name;

    memset(out, 0, sizeof(*out));
    out->quality_score = -1;
    if (root == NULL || !cJSON_IsObject(root)) {
        jc_errbuf_set(err, errlen, "%s: %s", path, root == NULL ? yerr : "not a YAML mapping");
        cJSON_Delete(root);
        return JC_EINVAL;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "gate");
    if (!cJSON_IsString(v))
        v = cJSON_GetObjectItemCaseSensitive(root, "decision");
    out->decision = decision_parse(cJSON_IsString(v) ? v->valuestring : NULL);
    out->story_key = str_field(root, "story");
    if (out->story_key == NULL) {
        name = strrchr(path, '/');
        key_from_name(name != NULL ? name + 1 : path, key, sizeof(key));
        if (key[0] != '\0')
            out->story_key = strdup(key);
    }
    out->status_reason = str_field(root, "status_reason");
    out->reviewer = str_field(root, "reviewer");
    out->updated = str_field(root, "updated");
    out->expires = str_field(root, "expires");
    v = cJSON_GetObjectItemCaseSensitive(root, "quality_score");
    if (cJSON_IsString(v)) {
        char *end = NULL;
        long q = strtol(v->valuestring, &end, 10);
        if (end != v->valuestring && *end == '\0' && q >= 0 && q <= 100)
            out->quality_score = (int)q;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "top_issues");
    out->top_issues = cJSON_IsArray(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateArray();
    v = cJSON_GetObjectItemCaseSensitive(root, "waiver");
    out->waiver = cJSON_IsObject(v) ? cJSON_Duplicate(v, 1) : NULL;
    cJSON_Delete(root);
    return JC_OK;
}

void jc_gate_clear(struct jc_gate *g)
{
    if (g == NULL)
        return;
    free(g->story_key);
    free(g->status_reason);
    free(g->reviewer);
    free(g->updated);
    free(g->expires);
    cJSON_Delete(g->top_issues);
    cJSON_Delete(g->waiver);
    memset(g, 0, sizeof(*g));
    g->quality_score = -1;
}

/* ---- v6 sprint-status.yaml ---- */

enum jc_err jc_sprint_status_parse(const char *text, size_t len, cJSON **out, char *err,
                                   size_t errlen)
{
    char yerr[200] = "", key[64] = "", words[64] = "";
    cJSON *root = jc_yaml_to_json(text, len, yerr, sizeof(yerr));
    const cJSON *dev, *e;

    *out = NULL;
    if (root == NULL) {
        jc_errbuf_set(err, errlen, "sprint-status.yaml: %s", yerr);
        return JC_EINVAL;
    }
    dev = cJSON_GetObjectItemCaseSensitive(root, "development_status");
    *out = cJSON_CreateObject();
    cJSON_ArrayForEach(e, dev)
    {
        enum jc_story_status st;
        if (e->string == NULL || !cJSON_IsString(e) || strncmp(e->string, "epic", 4) == 0 ||
            strstr(e->string, "retrospective") != NULL)
            continue;
        key_from_name(e->string, key, sizeof(key));
        if (key[0] == '\0')
            continue;
        plain_lower(e->valuestring, strlen(e->valuestring), words, sizeof(words));
        st = jc_story_status_parse(words);
        cJSON_DeleteItemFromObjectCaseSensitive(*out, key);
        cJSON_AddStringToObject(
            *out, key, st != JC_STATUS_UNKNOWN ? jc_story_status_name(st) : e->valuestring);
    }
    cJSON_Delete(root);
    return JC_OK;
}
