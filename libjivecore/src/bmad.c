/* SPDX-License-Identifier: MIT */
/* bmad.c: BMAD path classification, story and QA gate parsing, sprint-status.yaml, records. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "jc/bmad.h"
#include "jc/parse.h"

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

/* The longest length <= max at which s[0..n) can be cut without splitting a UTF-8 sequence:
 * a cut text must stay valid UTF-8 (Postgres refuses anything else). */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
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
        /* an optional one-letter suffix on a part: 2.5a, 1.12A (kept lower-case) */
        if (isalpha((unsigned char)s[i]) && !isalpha((unsigned char)s[i + 1]))
            i++;
        if (o + (i - start) + 2 >= keylen)
            return 0;
        if (parts > 0)
            key[o++] = '.';
        memcpy(key + o, s + start, i - start);
        if (isalpha((unsigned char)key[o + (i - start) - 1]))
            key[o + (i - start) - 1] = (char)tolower((unsigned char)key[o + (i - start) - 1]);
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

/*
 * A track prefix in front of a v4 story name: error-handling-1.1.story.md has the key
 * "error-handling-1.1", the prefix (lower-case) keeping it apart from the 1.1.story.md next to
 * it. Empty key when the name is not <letters, digits, '-'>-<dotted key>.story.md.
 */
static void key_with_prefix(const char *name, char *key, size_t keylen)
{
    size_t n = strlen(name), i, dash;
    char dotted[64];

    key[0] = '\0';
    if (n <= 9 || strcasecmp(name + n - 9, ".story.md") != 0 || !isalpha((unsigned char)name[0]))
        return;
    n -= 9; /* the stem */
    for (dash = n; dash > 0 && name[dash - 1] != '-'; dash--)
        ;
    if (dash < 2 || read_key(name + dash, false, dotted, sizeof(dotted)) != n - dash ||
        dash + strlen(dotted) + 1 > keylen)
        return;
    for (i = 0; i + 1 < dash; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-')
            return;
    for (i = 0; i + 1 < dash; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    snprintf(key + dash - 1, keylen - (dash - 1), "-%s", dotted);
}

/* The key a file name carries: 2.3.slug.md, 2.3.story.md, story-6.4-x.md, 1-2-slug.md,
 * track-1.1.story.md (key_with_prefix). */
static void key_from_name(const char *name, char *key, size_t keylen)
{
    const char *s = name;

    key[0] = '\0';
    if (strncasecmp(s, "gate-decision-", 14) == 0)
        s += 14;
    if (strncasecmp(s, "story-", 6) == 0 || strncasecmp(s, "story_", 6) == 0)
        s += 6;
    else if (strncasecmp(s, "story", 5) == 0 && isdigit((unsigned char)s[5]))
        s += 5;
    if (read_key(s, false, key, keylen) > 0 || read_key(s, true, key, keylen) > 0)
        return;
    key_with_prefix(s, key, keylen);
}

/*
 * A spec folder's story (<spec>/stories/<id>-<slug>.md): the dotted or v6 key when the name has
 * one, else the id before the first '-' or '.', prefixed by the spec folder so that two specs'
 * "01" stay apart.
 */
static void key_from_spec(const char *spec, size_t speclen, const char *name, char *key,
                          size_t keylen)
{
    size_t n;

    key_from_name(name, key, keylen);
    if (key[0] != '\0')
        return;
    n = strcspn(name, "-.");
    if (n == 0 || n > 32 || speclen + n + 2 > keylen ||
        (speclen == 12 && strncmp(spec, "_bmad-output", 12) == 0))
        return; /* _bmad-output/stories/ is a plain stories folder: keys from names only */
    snprintf(key, keylen, "%.*s/%.*s", (int)speclen, spec, (int)n, name);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* For ".../<spec>/stories/<name>" or ".../<spec>/stories.yaml": the spec folder's name. */
static bool spec_folder(const char *path, const char *name, const char **spec, size_t *n)
{
    const char *end = name - 1, *p; /* the '/' before the name */

    if (name == path)
        return false;
    if (strcmp(name, "stories.yaml") != 0 && strcmp(name, "stories.yml") != 0) {
        /* .../<spec>/stories/<name>: step over "stories/" */
        if (end - path < 8 || strncmp(end - 7, "stories", 7) != 0 ||
            (end - 7 != path && end[-8] != '/'))
            return false;
        end -= 8;
        if (end <= path)
            return false;
    }
    for (p = end; p > path && p[-1] != '/'; p--)
        ;
    if (p == end)
        return false;
    *spec = p;
    *n = (size_t)(end - p);
    return true;
}

enum jc_artifact_kind jc_bmad_classify(const char *path, char *key, size_t keylen)
{
    const char *name = strrchr(path, '/');
    char tmp[64] = "";
    bool md, yml, json;

    name = name != NULL ? name + 1 : path;
    if (key == NULL) {
        key = tmp;
        keylen = sizeof(tmp);
    }
    key[0] = '\0';
    md = has_suffix(name, ".md");
    yml = has_suffix(name, ".yml") || has_suffix(name, ".yaml");
    json = has_suffix(name, ".json");
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
        const char *rest = path + 13, *spec;
        size_t speclen;
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
        /* test-architect gate decisions, next to the v4-style gates/ folders */
        if ((json || yml) && strncasecmp(name, "gate-decision-", 14) == 0) {
            key_from_name(name, key, keylen);
            return JC_KIND_QA_GATE;
        }
        if (yml && strstr(rest, "gates/") != NULL) {
            key_from_name(name, key, keylen);
            return JC_KIND_QA_GATE;
        }
        /* spec folders: SPEC.md, stories.yaml, stories/<id>-<slug>.md */
        if (strcmp(name, "SPEC.md") == 0)
            return JC_KIND_OTHER;
        if ((md || yml) && spec_folder(path, name, &spec, &speclen)) {
            if (yml)
                return JC_KIND_SPRINT_STATUS;
            key_from_spec(spec, speclen, name, key, keylen);
            return key[0] != '\0' ? JC_KIND_STORY : JC_KIND_OTHER;
        }
    }
    return JC_KIND_NONE;
}

/* ---- status ---- */

const char *jc_story_status_name(enum jc_story_status s)
{
    static const char *const names[] = {"Missing", "Draft", "Approved", "InProgress",
                                        "Review",  "Done",  "Blocked",  "Other"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "Other";
}

bool jc_story_status_active(enum jc_story_status s)
{
    return s == JC_STATUS_IN_PROGRESS || s == JC_STATUS_REVIEW;
}

enum jc_story_status jc_story_status_parse(const char *raw)
{
    /* the status is what the line starts with ("Done - all tasks complete", "Done ✅"): the
     * first entry whose words begin it, as whole words; longer phrases before their prefixes */
    static const struct {
        const char *words;
        enum jc_story_status status;
    } prefixes[] = {
        {"ready for done", JC_STATUS_DONE}, /* QA approved, waiting for the owner */
        {"review passed", JC_STATUS_DONE},
        {"qa passed", JC_STATUS_DONE},
        {"qa approved", JC_STATUS_DONE},
        {"ready for review", JC_STATUS_REVIEW},
        {"ready for qa", JC_STATUS_REVIEW},
        {"ready for dev", JC_STATUS_APPROVED},
        {"ready for development", JC_STATUS_APPROVED},
        {"ready to dev", JC_STATUS_APPROVED},
        {"ready for implementation", JC_STATUS_APPROVED},
        {"in progress", JC_STATUS_IN_PROGRESS},
        {"inprogress", JC_STATUS_IN_PROGRESS},
        {"in development", JC_STATUS_IN_PROGRESS},
        {"in dev", JC_STATUS_IN_PROGRESS},
        {"in review", JC_STATUS_REVIEW},
        {"inreview", JC_STATUS_REVIEW},
        {"under review", JC_STATUS_REVIEW},
        {"awaiting review", JC_STATUS_REVIEW},
        {"not started", JC_STATUS_DRAFT},
        {"on hold", JC_STATUS_BLOCKED},
        {"done", JC_STATUS_DONE},
        {"complete", JC_STATUS_DONE},
        {"completed", JC_STATUS_DONE},
        {"finished", JC_STATUS_DONE},
        {"closed", JC_STATUS_DONE},
        {"review", JC_STATUS_REVIEW},
        {"qa", JC_STATUS_REVIEW},
        {"wip", JC_STATUS_IN_PROGRESS},
        {"doing", JC_STATUS_IN_PROGRESS},
        {"implementing", JC_STATUS_IN_PROGRESS},
        {"started", JC_STATUS_IN_PROGRESS},
        {"approved", JC_STATUS_APPROVED},
        {"ready", JC_STATUS_APPROVED},
        {"contexted", JC_STATUS_APPROVED},
        {"todo", JC_STATUS_APPROVED},
        {"to do", JC_STATUS_APPROVED},
        {"draft", JC_STATUS_DRAFT},
        {"drafted", JC_STATUS_DRAFT},
        {"backlog", JC_STATUS_DRAFT},
        {"proposed", JC_STATUS_DRAFT},
        {"blocked", JC_STATUS_BLOCKED},
    };
    char p[160] = "";
    size_t i;

    if (raw == NULL)
        return JC_STATUS_MISSING;
    plain_lower(raw, strlen(raw), p, sizeof(p));
    if (strncmp(p, "status ", 7) == 0)
        memmove(p, p + 7, strlen(p + 7) + 1);
    if (p[0] == '\0')
        return raw[0] == '\0' ? JC_STATUS_MISSING : JC_STATUS_OTHER;
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t k = strlen(prefixes[i].words);
        if (strncmp(p, prefixes[i].words, k) == 0 && (p[k] == '\0' || p[k] == ' '))
            return prefixes[i].status;
    }
    return JC_STATUS_OTHER;
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

static bool is_fence(const struct line *l)
{
    const char *t = l->s;
    size_t tn = l->n;

    trim(&t, &tn);
    return tn >= 3 && (strncmp(t, "```", 3) == 0 || strncmp(t, "~~~", 3) == 0);
}

/* The next line outside fenced code blocks (``` ... ```); *in_code carries the fence state. */
static bool next_prose_line(const char *text, size_t len, size_t *pos, struct line *l,
                            bool *in_code)
{
    while (next_line(text, len, pos, l)) {
        if (is_fence(l))
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

/* Files without an extension that projects really have at their root or in folders. */
static bool bare_file_name(const char *p)
{
    static const char *const names[] = {
        "Dockerfile", "Containerfile", "Makefile",    "GNUmakefile", "Justfile",    "Procfile",
        "Gemfile",    "Rakefile",      "Brewfile",    "Vagrantfile", "Jenkinsfile", "Caddyfile",
        "LICENSE",    "LICENCE",       "NOTICE",      "README",      "CHANGELOG",   "AUTHORS",
        "CODEOWNERS", "VERSION",       "CONTRIBUTING"};
    const char *base = strrchr(p, '/');
    size_t i;

    base = base != NULL ? base + 1 : p;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(base, names[i]) == 0)
            return true;
    return false;
}

/* "some-lib@^2.1.0", "@scope/pkg@1.2", "react@latest": a package, not a path. */
static bool package_spec(const char *p)
{
    const char *at = strrchr(p, '@');

    if (p[0] == '@')
        return true;
    if (at == NULL || at == p)
        return false;
    at++;
    return *at == '^' || *at == '~' || *at == '*' || *at == '>' || *at == '<' || *at == '=' ||
           isdigit((unsigned char)*at) || strncmp(at, "latest", 6) == 0 ||
           strncmp(at, "next", 4) == 0;
}

static bool external_path(const char *p)
{
    return p[0] == '/' || p[0] == '~' || strncmp(p, "../", 3) == 0 || strcmp(p, "..") == 0 ||
           strstr(p, "/../") != NULL || strstr(p, "://") != NULL ||
           (isalpha((unsigned char)p[0]) && p[1] == ':' && p[2] == '/');
}

/* A token that names a file or folder: no spaces, something path-shaped, not a package; dir
 * when it was written as a folder ("docs/"). */
static bool path_shaped(const char *p, bool dir)
{
    size_t n = strlen(p), i;
    bool alpha = false;

    /* brackets are part of real paths ("src/app/(app)/feed/[id]/page.tsx"); a call is not */
    if (n == 0 || n > 300 || strpbrk(p, " \t\r\n\v\f|<>\"'`") != NULL ||
        (n >= 2 && strcmp(p + n - 2, "()") == 0))
        return false;
    for (i = 0; i < n && !alpha; i++)
        alpha = isalpha((unsigned char)p[i]) != 0;
    if (!alpha || strcasecmp(p, "n/a") == 0 || strcasecmp(p, "e.g.") == 0 ||
        strcasecmp(p, "i.e.") == 0 || strcasecmp(p, "etc.") == 0 || package_spec(p))
        return false;
    if (strstr(p, "://") != NULL)
        return true; /* a URL: kept as external */
    return dir || strchr(p, '/') != NULL || strchr(p, '.') != NULL || bare_file_name(p);
}

static bool is_path_like(const char *p)
{
    return path_shaped(p, false);
}

/*
 * Normalises a path candidate in place: markdown escapes ("dist/\*"), "\" as "/", "./" and a
 * trailing "/" or ":line" (":42", ":42-50", "#L42") removed, repeated "/" folded.
 */
static void normalise_path(char *p)
{
    size_t i, o = 0, n = strlen(p);

    for (i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n && strchr("*_[]()#`", p[i + 1]) != NULL)
            continue; /* a markdown escape: keep the next character */
        p[o++] = p[i] == '\\' ? '/' : p[i];
    }
    p[o] = '\0';
    /* :line and #Lline */
    {
        char *c = strrchr(p, ':');
        char *h = strstr(p, "#L");
        if (h != NULL && isdigit((unsigned char)h[2]))
            *h = '\0';
        if (c != NULL && c != p && isdigit((unsigned char)c[1]) &&
            strspn(c + 1, "0123456789-:,") == strlen(c + 1))
            *c = '\0';
    }
    while (strncmp(p, "./", 2) == 0)
        memmove(p, p + 2, strlen(p + 2) + 1);
    for (i = 0, o = 0; p[i] != '\0'; i++) {
        if (p[i] == '/' && o > 0 && p[o - 1] == '/' && !(o >= 2 && p[o - 2] == ':'))
            continue;
        p[o++] = p[i];
    }
    p[o] = '\0';
    while (o > 1 && p[o - 1] == '/')
        p[--o] = '\0';
}

/* Strips "**" and trailing punctuation that is decoration, not part of a path; underscores
 * stay ("_bmad-output/", "__init__.py"). */
static void strip_decoration(const char **s, size_t *n)
{
    trim(s, n);
    while (*n > 0 && (*s)[0] == '*')
        (*s)++, (*n)--;
    /* trailing punctuation; a '*' after '/' or '\' is a glob ("dist/\*"), a ')' with its '('
     * part of the name */
    while (*n > 0 && strchr(",;:*)", (*s)[*n - 1]) != NULL &&
           !((*s)[*n - 1] == ')' && memchr(*s, '(', *n) != NULL) &&
           !((*s)[*n - 1] == '*' && *n > 1 && ((*s)[*n - 2] == '/' || (*s)[*n - 2] == '\\')))
        (*n)--;
    trim(s, n);
}

static bool is_label_word(const char *s, size_t n, size_t *used)
{
    static const char *const labels[] = {
        "new file", "modified file", "new",     "modified", "created", "updated",     "deleted",
        "added",    "changed",       "removed", "edited",   "renamed", "moved",       "create",
        "modify",   "update",        "delete",  "add",      "mod",     "new/modified"};
    size_t i;

    for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        size_t k = strlen(labels[i]);
        if (n >= k && strncasecmp(s, labels[i], k) == 0 &&
            (n == k || !isalnum((unsigned char)s[k]))) {
            *used = k;
            return true;
        }
    }
    return false;
}

static char *dup_trimmed(const char *s, size_t n)
{
    trim(&s, &n);
    for (;;) { /* separators before a description: "-", ":", "(", en and em dashes */
        if (n > 0 && (s[0] == '-' || s[0] == ':' || s[0] == '(')) {
            s++;
            n--;
        } else if (n >= 3 &&
                   (memcmp(s, "\xE2\x80\x93", 3) == 0 || memcmp(s, "\xE2\x80\x94", 3) == 0)) {
            s += 3;
            n -= 3;
        } else {
            break;
        }
        trim(&s, &n);
    }
    if (n > 0 && s[n - 1] == ')' && memchr(s, '(', n) == NULL)
        n--;
    trim(&s, &n);
    return n > 0 ? dupn(s, utf8_cut(s, n, 300)) : NULL;
}

/* The path candidate at s: `code`, [text](target), else the first word. *rest after it. */
static char *candidate(const char *s, size_t n, const char **rest, size_t *restn)
{
    const char *e;
    char *c = NULL;

    *rest = NULL;
    *restn = 0;
    if (n > 0 && s[0] == '`') {
        e = memchr(s + 1, '`', n - 1);
        if (e == NULL)
            return NULL;
        c = dupn(s + 1, (size_t)(e - s - 1));
        e++;
    } else if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n), *tgt, *tend;
        if (close == NULL)
            return NULL;
        c = dupn(s + 1, (size_t)(close - s - 1));
        e = close + 1;
        if (c != NULL && (size_t)(e - s) < n && *e == '(' &&
            (tend = memchr(e, ')', n - (size_t)(e - s))) != NULL) {
            tgt = e + 1;
            /* the link text, unless only the target is a path: [the cart](src/cart.ts) */
            if (c[0] == '`' && strlen(c) > 1 && c[strlen(c) - 1] == '`') {
                memmove(c, c + 1, strlen(c));
                c[strlen(c) - 1] = '\0';
            }
            if (!is_path_like(c)) {
                free(c);
                c = dupn(tgt, (size_t)(tend - tgt));
            }
            e = tend + 1;
        }
    } else {
        size_t i = 0;
        while (i < n && !isspace((unsigned char)s[i]))
            i++;
        c = dupn(s, i);
        e = s + i;
    }
    *rest = e;
    *restn = n - (size_t)(e - s);
    return c;
}

void jc_story_file_clear(struct jc_story_file *f)
{
    if (f == NULL)
        return;
    free(f->path);
    free(f->label);
    free(f->note);
    memset(f, 0, sizeof(*f));
}

/* Finishes a candidate: decoration and normalisation; false (c freed) when it is no path. */
static bool accept_path(char *c, struct jc_story_file *out)
{
    const char *s = c;
    size_t n = strlen(c);
    char *p;
    bool dir;

    strip_decoration(&s, &n);
    p = dupn(s, n);
    free(c);
    if (p == NULL)
        return false;
    dir = n > 1 && (p[n - 1] == '/' || p[n - 1] == '\\');
    normalise_path(p);
    if (!path_shaped(p, dir)) {
        free(p);
        return false;
    }
    out->path = p;
    out->external = external_path(p);
    return true;
}

/* A table row: the cell that holds a path; a label cell and the rest as the note. */
static bool table_entry(const char *s, size_t n, struct jc_story_file *out)
{
    const char *cells[8];
    size_t lens[8], nc = 0, i, used;
    const char *p = s + 1, *end = s + n;
    int at = -1;

    while (p < end && nc < 8) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *c = p;
        size_t cn = bar != NULL ? (size_t)(bar - p) : (size_t)(end - p);
        trim(&c, &cn);
        if (bar == NULL && cn == 0)
            break;
        cells[nc] = c;
        lens[nc++] = cn;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    for (i = 0; i < nc && at < 0; i++) {
        const char *rest;
        size_t rn;
        char *c;
        if (lens[i] == 0 || cells[i][0] == '-' || cells[i][0] == ':')
            continue;
        c = candidate(cells[i], lens[i], &rest, &rn);
        if (c != NULL && accept_path(c, out))
            at = (int)i;
    }
    if (at < 0)
        return false;
    for (i = 0; i < nc; i++) {
        if ((int)i == at || lens[i] == 0)
            continue;
        if (out->label == NULL && is_label_word(cells[i], lens[i], &used) && lens[i] < 24)
            out->label = dupn(cells[i], lens[i]);
        else if (out->note == NULL)
            out->note = dup_trimmed(cells[i], lens[i]);
    }
    return true;
}

bool jc_story_file_parse(const char *line, size_t len, struct jc_story_file *out)
{
    const char *s = line, *rest = NULL;
    size_t n = len, i, used, rn = 0;
    char *c;

    memset(out, 0, sizeof(*out));
    trim(&s, &n);
    if (n > 0 && s[0] == '|') {
        if (table_entry(s, n, out))
            return true;
        jc_story_file_clear(out);
        return false;
    }
    if (n > 1 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ') {
        s += 2;
        n -= 2;
    } else if (n > 0 && isdigit((unsigned char)s[0])) {
        i = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i + 1 >= n || (s[i] != '.' && s[i] != ')') || s[i + 1] != ' ')
            return false;
        s += i + 2;
        n -= i + 2;
    }
    trim(&s, &n);
    if (n >= 4 && s[0] == '[' && s[2] == ']' && strchr(" xX", s[1]) != NULL) { /* - [x] path */
        s += 3;
        n -= 3;
        trim(&s, &n);
    }
    while (n >= 1 && s[0] == '*') {
        s++;
        n--;
    }
    /* a label before the path: "NEW: x", "**Modified:** x", "Created**:** x", "(new) x" */
    if (is_label_word(s, n, &used)) {
        size_t j = used;
        while (j < n && (s[j] == '*' || s[j] == ')'))
            j++;
        if (j < n && (s[j] == ':' || s[j] == ' ')) {
            bool colon = s[j] == ':';
            size_t k = j + 1;
            while (k < n && (s[k] == '*' || s[k] == ' '))
                k++;
            /* "Modified `x`" without a colon counts too, but not "new-thing.ts" */
            if (colon || (k < n && (s[k] == '`' || s[k] == '['))) {
                out->label = dupn(s, used);
                s += k;
                n -= k;
            }
        }
    }
    c = candidate(s, n, &rest, &rn);
    if (c != NULL && accept_path(c, out)) {
        out->note = dup_trimmed(rest, rn);
        return true;
    }
    /* the first word is no path ("Refactored `x` for speed"): the first code span that is */
    for (i = 0; i < n; i++) {
        if (s[i] != '`')
            continue;
        c = candidate(s + i, n - i, &rest, &rn);
        if (c != NULL && accept_path(c, out)) {
            out->note = dup_trimmed(s, n);
            return true;
        }
        if (rest == NULL || rest <= s + i)
            break; /* an unclosed code span: nothing after it is one either */
        i = (size_t)(rest - s) - 1;
    }
    /* no code span either ("`react@18` added to package.json"): the first word that is a path */
    for (i = 0; i < n;) {
        size_t w = i;
        while (w < n && !isspace((unsigned char)s[w]))
            w++;
        if (w > i && s[i] != '`' && s[w - 1] != '`') {
            c = dupn(s + i, w - i);
            if (c != NULL && accept_path(c, out)) {
                out->note = dup_trimmed(s, n);
                return true;
            }
        }
        while (w < n && isspace((unsigned char)s[w]))
            w++;
        i = w;
    }
    jc_story_file_clear(out);
    return false;
}

static void add_file(struct jc_story *st, struct jc_story_file *f)
{
    size_t i;
    struct jc_story_file *nf;

    for (i = 0; i < st->nfiles; i++) {
        if (strcmp(st->files[i].path, f->path) == 0) {
            jc_story_file_clear(f);
            return;
        }
    }
    nf = realloc(st->files, (st->nfiles + 1) * sizeof(*nf));
    if (nf == NULL) {
        jc_story_file_clear(f);
        return;
    }
    st->files = nf;
    st->files[st->nfiles++] = *f;
    memset(f, 0, sizeof(*f));
}

/* "Story 2.3: Title", "Story 2.3 - Title", "2.3: Title" → title key and title. */
static void parse_title(struct line h, struct jc_story *st)
{
    char buf[512], key[64];
    const char *s = buf;
    size_t n = utf8_cut(h.s, h.n, sizeof(buf) - 1), used;

    /* the heading is a slice of the file, not a string: read_key needs the terminator */
    memcpy(buf, h.s, n);
    buf[n] = '\0';
    if (starts_ci(s, n, "story ")) {
        s += 6;
        n -= 6;
        while (n > 0 && (*s == ':' || *s == ' ' || *s == '#')) {
            s++;
            n--;
        }
    }
    used = read_key(s, false, key, sizeof(key));
    if (used > 0 && used <= n) {
        const char *t = s + used;
        size_t tn = n - used;
        for (;;) { /* ':', ' - ', ' – ', ' — ' (en and em dashes are three bytes of UTF-8) */
            if (tn > 0 && (*t == ':' || *t == ' ' || *t == '-')) {
                t++;
                tn--;
            } else if (tn >= 3 &&
                       (memcmp(t, "\xE2\x80\x93", 3) == 0 || memcmp(t, "\xE2\x80\x94", 3) == 0)) {
                t += 3;
                tn -= 3;
            } else {
                break;
            }
        }
        st->title_key = strdup(key);
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

/* Headings (or bold lines) that open a File List. */
static bool is_file_list(const char *p)
{
    static const char *const names[] = {"files",
                                        "file changes",
                                        "files changed",
                                        "files modified",
                                        "files created",
                                        "files created modified",
                                        "files created and modified",
                                        "files modified created",
                                        "modified files",
                                        "changed files",
                                        "new files",
                                        "created files",
                                        "new modified files",
                                        "files touched",
                                        "files affected",
                                        "affected files"};
    size_t i;

    /* "File List", "File List (implementation)"; the other names exactly, so that a note such
     * as "Files created by 11.2 (and their scope here)" about another story is no File List */
    if (strncmp(p, "file list", 9) == 0)
        return true;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(p, names[i]) == 0)
            return true;
    return false;
}

/* A line that is a bold label on its own: "**File List:**", "**Notes**:" → its words. */
static bool bold_label(struct line l, char *p, size_t plen)
{
    const char *s = l.s;
    size_t n = l.n;

    trim(&s, &n);
    if (n < 5 || s[0] != '*' || s[1] != '*')
        return false;
    /* the whole line is the label: it ends with "**", ":**", "**:" */
    if (!(s[n - 1] == '*' || (s[n - 1] == ':' && s[n - 2] == '*')))
        return false;
    plain_lower(s, n, p, plen);
    return p[0] != '\0';
}

/* "- [ ] x", "* [x] x", "1. [X] x", "2) [ ] x" → 1 for a box, 2 for a ticked box, 0 if none. */
static int checkbox(const char *t, size_t tn)
{
    size_t i = 0;

    if (tn >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ') {
        i = 2;
    } else {
        while (i < tn && isdigit((unsigned char)t[i]))
            i++;
        if (i == 0 || i + 1 >= tn || (t[i] != '.' && t[i] != ')') || t[i + 1] != ' ')
            return 0;
        i += 2;
    }
    while (i < tn && t[i] == ' ')
        i++;
    if (i + 2 >= tn + 0 || t[i] != '[' || t[i + 2] != ']')
        return 0;
    if (t[i + 1] == ' ')
        return 1;
    return t[i + 1] == 'x' || t[i + 1] == 'X' ? 2 : 0;
}

/* YAML front matter ("---" ... "---" at the very top): its length, 0 when there is none. */
static size_t front_matter(const char *text, size_t len)
{
    size_t pos = 0;
    struct line l;

    if (!next_line(text, len, &pos, &l) || l.n != 3 || strncmp(l.s, "---", 3) != 0)
        return 0;
    while (next_line(text, len, &pos, &l))
        if ((l.n == 3 && strncmp(l.s, "---", 3) == 0) || (l.n == 3 && strncmp(l.s, "...", 3) == 0))
            return pos;
    return 0;
}

/* status:/title: of the front matter, when it is a YAML mapping. */
static void read_front_matter(const char *text, size_t fm, struct jc_story *out)
{
    char err[64];
    cJSON *y = jc_yaml_to_json(text, fm, err, sizeof(err));
    const char *v;

    if (!cJSON_IsObject(y)) {
        cJSON_Delete(y);
        return;
    }
    v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "status"));
    if (v != NULL && v[0] != '\0')
        out->raw_status = strdup(v);
    v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "title"));
    if (v != NULL && v[0] != '\0')
        out->title = strdup(v);
    cJSON_Delete(y);
}

enum jc_err jc_story_parse(const char *path, const char *text, size_t len, struct jc_story *out,
                           char *err, size_t errlen)
{
    struct line l, h;
    size_t pos = 0;
    int level, files_level = 0, tasks_level = 0;
    bool in_status = false, in_qa = false, in_code = false, seen_heading = false;
    char key[64] = "";

    memset(out, 0, sizeof(*out));
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        jc_errbuf_set(err, errlen, "%s: not a text file", path);
        return JC_EINVAL;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3; /* a byte order mark, as some editors write */
        len -= 3;
    }
    pos = front_matter(text, len);
    if (pos > 0)
        read_front_matter(text, pos, out);
    while (next_line(text, len, &pos, &l)) {
        const char *t = l.s;
        size_t tn = l.n;
        char p[64] = "";
        int box;
        if (is_fence(&l)) {
            in_code = !in_code;
            continue;
        }
        trim(&t, &tn);
        if (in_code) {
            /* a File List written as a code block: one bare path a line */
            struct jc_story_file f;
            if (files_level > 0 && tn > 0 && memchr(t, ' ', tn) == NULL &&
                jc_story_file_parse(t, tn, &f))
                add_file(out, &f);
            continue;
        }
        level = heading(&l, &h);
        if (level > 0) {
            plain_lower(h.s, h.n, p, sizeof(p));
            if (!seen_heading && level == 1) {
                struct jc_story t0;
                seen_heading = true;
                memset(&t0, 0, sizeof(t0));
                parse_title(h, &t0);
                out->title_key = t0.title_key;
                if (out->title == NULL)
                    out->title = t0.title; /* front matter's title wins */
                else
                    free(t0.title);
                continue;
            }
            if (files_level > 0 && level <= files_level)
                files_level = 0;
            if (tasks_level > 0 && level <= tasks_level)
                tasks_level = 0;
            in_status = strcmp(p, "status") == 0 || strcmp(p, "story status") == 0;
            if (is_file_list(p))
                files_level = level;
            if (strncmp(p, "tasks", 5) == 0 || strncmp(p, "task list", 9) == 0 ||
                strcmp(p, "implementation tasks") == 0)
                tasks_level = level;
            if (strcmp(p, "tasks") == 0 || strcmp(p, "tasks subtasks") == 0 ||
                strcmp(p, "story") == 0 || strcmp(p, "user story") == 0 ||
                strcmp(p, "acceptance criteria") == 0 || strcmp(p, "dev agent record") == 0)
                out->story_sections = true;
            if (level <= 2)
                in_qa = is_qa_heading(h) && !in_status;
            continue;
        }
        if (tn == 0)
            continue;
        if (bold_label(l, p, sizeof(p))) {
            /* "**File List:**" opens a list that runs to the next heading or bold label */
            size_t used;
            if (is_file_list(p)) {
                if (files_level == 0)
                    files_level = 7;
            } else if (files_level == 7 && !is_label_word(p, strlen(p), &used) &&
                       strstr(p, "file") == NULL) {
                files_level = 0;
            }
            if (strncmp(p, "status", 6) != 0)
                continue;
        }
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
        box = checkbox(t, tn);
        if (box > 0) {
            out->checks_total++;
            out->checks_done += box == 2;
            if (tasks_level > 0) {
                out->tasks_total++;
                out->tasks_done += box == 2;
            }
        }
        if (files_level > 0) {
            struct jc_story_file f;
            if (jc_story_file_parse(l.s, l.n, &f))
                add_file(out, &f);
        }
    }
    if (out->raw_status != NULL) {
        /* keep a readable status line: the first 200 bytes of it */
        if (strlen(out->raw_status) > 200)
            out->raw_status[utf8_cut(out->raw_status, strlen(out->raw_status), 200)] = '\0';
    }
    out->status = jc_story_status_parse(out->raw_status);
    jc_bmad_classify(path, key, sizeof(key));
    if (key[0] == '\0') {
        const char *name = strrchr(path, '/');
        key_from_name(name != NULL ? name + 1 : path, key, sizeof(key));
    }
    if (key[0] != '\0') {
        out->key = strdup(key);
        out->key_from_name = true;
    } else if (out->title_key != NULL) {
        out->key = strdup(out->title_key);
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
    free(s->title_key);
    free(s->title);
    free(s->raw_status);
    for (i = 0; i < s->nfiles; i++)
        jc_story_file_clear(&s->files[i]);
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
    static const char *const names[] = {"Missing", "PASS", "CONCERNS", "FAIL", "WAIVED", "Other"};

    return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "Other";
}

/* The value without quotes and a trailing "# comment", trimmed, into buf. */
static void bare_value(const char *v, char *buf, size_t len)
{
    const char *s = v;
    size_t n = strlen(v);
    const char *hash;

    trim(&s, &n);
    if (n > 0 && s[0] != '"' && s[0] != '\'' && (hash = memchr(s, '#', n)) != NULL &&
        (hash == s || isspace((unsigned char)hash[-1])))
        n = (size_t)(hash - s);
    trim(&s, &n);
    if (n >= 2 && (s[0] == '"' || s[0] == '\'')) {
        const char *close = memchr(s + 1, s[0], n - 1);
        if (close != NULL) {
            n = (size_t)(close - s) - 1;
            s++;
        }
    }
    trim(&s, &n);
    snprintf(buf, len, "%.*s", (int)n, s);
}

enum jc_gate_decision jc_gate_decision_parse(const char *raw)
{
    static const char *const exact[] = {"PASS", "CONCERNS", "FAIL", "WAIVED"};
    char v[64];
    size_t i;

    if (raw == NULL)
        return JC_GATE_MISSING;
    bare_value(raw, v, sizeof(v));
    if (v[0] == '\0')
        return JC_GATE_MISSING;
    for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcasecmp(v, exact[i]) == 0)
            return (enum jc_gate_decision)(JC_GATE_PASS + i);
    return JC_GATE_OTHER;
}

static char *str_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/*
 * The line-level fallback for a gate file libyaml refuses: the value of the first top-level
 * (unindented) "gate:" line, else "decision:", else "gate_status:". NULL when none.
 */
static char *gate_line(const char *text, size_t len, bool json)
{
    static const char *const keys[] = {"gate", "decision", "gate_status", "gate_decision",
                                       "gate-decision"};
    size_t k;

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        size_t pos = 0, kl = strlen(keys[k]);
        struct line l;
        while (next_line(text, len, &pos, &l)) {
            const char *s = l.s;
            size_t n = l.n;
            bool quoted = false;
            while (json && n > 0 && (s[0] == '{' || isspace((unsigned char)s[0]))) {
                s++; /* JSON: any member line, its indentation and an opening brace */
                n--;
            }
            if (json && n > 0 && s[0] == '"') { /* a JSON member: "gate_status": "PASS", */
                s++;
                n--;
                quoted = true;
            }
            if (n <= kl || strncmp(s, keys[k], kl) != 0)
                continue;
            s += kl;
            n -= kl;
            if (n > 0 && s[0] == '"' && quoted) {
                s++;
                n--;
            }
            while (n > 0 && s[0] == ' ') {
                s++;
                n--;
            }
            if (n == 0 || s[0] != ':')
                continue;
            s++;
            n--;
            trim(&s, &n);
            while (n > 0 && (s[n - 1] == ',' || s[n - 1] == ' '))
                n--;
            if (n > 0)
                return dupn(s, n);
        }
    }
    return NULL;
}

static void gate_key_from_path(const char *path, struct jc_gate *out)
{
    char key[64] = "";
    const char *name = strrchr(path, '/');

    key_from_name(name != NULL ? name + 1 : path, key, sizeof(key));
    if (key[0] != '\0')
        out->story_key = strdup(key);
}

/* A JSON number or string as the quality score 0..100. */
static int quality(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble >= 0 && v->valuedouble <= 100 ? (int)v->valuedouble : -1;
    if (cJSON_IsString(v)) {
        char *end = NULL;
        long q = strtol(v->valuestring, &end, 10);
        if (end != v->valuestring && *end == '\0' && q >= 0 && q <= 100)
            return (int)q;
    }
    return -1;
}

/* A scalar (string or number) as text: the story id of a JSON gate may be a number. */
static char *scalar_text(const cJSON *v)
{
    char buf[64];

    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        snprintf(buf, sizeof(buf), "%g", v->valuedouble);
        return strdup(buf);
    }
    return NULL;
}

enum jc_err jc_gate_parse(const char *path, const char *text, size_t len, struct jc_gate *out,
                          char *err, size_t errlen)
{
    char yerr[200] = "", perr[260];
    bool json = has_suffix(path, ".json");
    cJSON *root;
    const cJSON *v;
    static const char *const decision_keys[] = {"gate",          "decision",      "gate_status",
                                                "gate_decision", "gate-decision", "gateDecision"};
    static const char *const story_keys[] = {"story", "story_id", "storyId"};
    size_t i;

    memset(out, 0, sizeof(*out));
    out->quality_score = -1;
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        jc_errbuf_set(err, errlen, "%s: not a text file", path);
        return JC_EINVAL;
    }
    if (json) {
        root = cJSON_ParseWithLength(text, len);
        if (root == NULL)
            snprintf(yerr, sizeof(yerr), "invalid JSON");
    } else {
        root = jc_yaml_to_json(text, len, yerr, sizeof(yerr));
    }
    if (root == NULL || !cJSON_IsObject(root)) {
        /* still one gate: the decision line by line, the problem reported */
        char *raw = gate_line(text, len, json);
        snprintf(perr, sizeof(perr), "%s", root == NULL ? yerr : "not a mapping");
        out->problem = strdup(perr);
        out->raw_decision = raw;
        out->decision = jc_gate_decision_parse(raw);
        if (raw != NULL) {
            char bare[64];
            bare_value(raw, bare, sizeof(bare));
            if (out->decision != JC_GATE_OTHER) {
                free(out->raw_decision);
                out->raw_decision = strdup(bare);
            }
        }
        gate_key_from_path(path, out);
        out->top_issues = cJSON_CreateArray();
        cJSON_Delete(root);
        return JC_OK;
    }
    v = NULL;
    for (i = 0; i < sizeof(decision_keys) / sizeof(decision_keys[0]) && !cJSON_IsString(v); i++)
        v = cJSON_GetObjectItemCaseSensitive(root, decision_keys[i]);
    if (cJSON_GetStringValue(v) != NULL) {
        out->decision = jc_gate_decision_parse(cJSON_GetStringValue(v));
        out->raw_decision = strdup(cJSON_GetStringValue(v));
    }
    for (i = 0; out->story_key == NULL && i < sizeof(story_keys) / sizeof(story_keys[0]); i++)
        out->story_key = scalar_text(cJSON_GetObjectItemCaseSensitive(root, story_keys[i]));
    if (out->story_key == NULL)
        gate_key_from_path(path, out);
    out->status_reason = str_field(root, "status_reason");
    if (out->status_reason == NULL)
        out->status_reason = str_field(root, "rationale");
    out->reviewer = str_field(root, "reviewer");
    out->updated = str_field(root, "updated");
    if (out->updated == NULL)
        out->updated = str_field(root, "decision_date");
    out->expires = str_field(root, "expires");
    out->quality_score = quality(cJSON_GetObjectItemCaseSensitive(root, "quality_score"));
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
    free(g->raw_decision);
    free(g->problem);
    free(g->status_reason);
    free(g->reviewer);
    free(g->updated);
    free(g->expires);
    cJSON_Delete(g->top_issues);
    cJSON_Delete(g->waiver);
    memset(g, 0, sizeof(*g));
    g->quality_score = -1;
}

/* ---- v6 sprint-status.yaml and spec stories.yaml ---- */

static void status_entry(cJSON *out, const char *key, const char *value)
{
    enum jc_story_status st = jc_story_status_parse(value);

    cJSON_DeleteItemFromObjectCaseSensitive(out, key);
    cJSON_AddStringToObject(out, key, st != JC_STATUS_OTHER ? jc_story_status_name(st) : value);
}

enum jc_err jc_sprint_status_parse(const char *path, const char *text, size_t len, cJSON **out,
                                   char *err, size_t errlen)
{
    char yerr[200] = "", key[64] = "", id[128];
    cJSON *root = jc_yaml_to_json(text, len, yerr, sizeof(yerr));
    const cJSON *dev, *e;
    const char *name = strrchr(path, '/'), *spec = NULL;
    size_t speclen = 0;
    bool stories_yaml;

    name = name != NULL ? name + 1 : path;
    stories_yaml = strncmp(name, "stories.", 8) == 0;
    *out = NULL;
    if (root == NULL) {
        jc_errbuf_set(err, errlen, "%s: %s", name, yerr);
        return JC_EINVAL;
    }
    *out = cJSON_CreateObject();
    if (!stories_yaml) {
        dev = cJSON_GetObjectItemCaseSensitive(root, "development_status");
        cJSON_ArrayForEach(e, dev)
        {
            if (e->string == NULL || !cJSON_IsString(e) || strncmp(e->string, "epic", 4) == 0 ||
                strstr(e->string, "retrospective") != NULL)
                continue;
            key_from_name(e->string, key, sizeof(key));
            if (key[0] != '\0')
                status_entry(*out, key, e->valuestring);
        }
        cJSON_Delete(root);
        return JC_OK;
    }
    /* stories.yaml: {stories: [{id, status}...]}, [{id, status}...] or {id: status} */
    spec_folder(path, name, &spec, &speclen);
    dev = cJSON_GetObjectItemCaseSensitive(root, "stories");
    if (dev == NULL)
        dev = root;
    cJSON_ArrayForEach(e, dev)
    {
        const char *sid = NULL, *st = NULL;
        if (cJSON_IsObject(e)) {
            const cJSON *idv = cJSON_GetObjectItemCaseSensitive(e, "id");
            if (idv == NULL)
                idv = cJSON_GetObjectItemCaseSensitive(e, "key");
            sid = cJSON_GetStringValue(idv);
            st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "status"));
        } else if (cJSON_IsString(e) && e->string != NULL) {
            sid = e->string;
            st = e->valuestring;
        }
        if (sid == NULL || st == NULL || spec == NULL)
            continue;
        snprintf(id, sizeof(id), "%s", sid);
        key_from_spec(spec, speclen, id, key, sizeof(key));
        if (key[0] != '\0')
            status_entry(*out, key, st);
    }
    cJSON_Delete(root);
    return JC_OK;
}

/* ---- one file as the scanner records it ---- */

/* The first markdown heading, as a title for planning documents. */
static char *first_heading(const char *d, size_t n)
{
    size_t pos = 0;
    struct line l, h;
    bool in_code = false;

    while (next_prose_line(d, n, &pos, &l, &in_code))
        if (heading(&l, &h) > 0 && h.n > 0)
            return dupn(h.s, h.n);
    return NULL;
}

static void add_str(cJSON *o, const char *name, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, name, v);
}

/*
 * Story folders also hold reports about stories ("1-3-code-review-report.md", "validation-
 * report-....md", "1-6-test-architecture-traceability-analysis.md"), titled "# Story 1.6: Code
 * Review Fixes Report" as often as not: a file whose name says it is a report and that has none
 * of the sections only stories have (Story, Acceptance Criteria, Tasks, Dev Agent Record) is a
 * document, not a story.
 */
static bool report_document(const char *path, const struct jc_story *st)
{
    static const char *const words[] = {"report",     "reports",    "traceability", "trace",
                                        "summary",    "validation", "analysis",     "retrospective",
                                        "retro",      "checklist",  "guide",        "decision",
                                        "assessment", "notes",      "review"};
    const char *name = strrchr(path, '/'), *w;
    size_t i;

    if (st->story_sections)
        return false;
    name = name != NULL ? name + 1 : path;
    for (w = name; *w != '\0';) {
        size_t n = 0;
        while (isalpha((unsigned char)w[n]))
            n++;
        for (i = 0; n > 0 && i < sizeof(words) / sizeof(words[0]); i++)
            if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
                return true;
        w += n;
        while (*w != '\0' && !isalpha((unsigned char)*w))
            w++;
    }
    return false;
}

/* Fills a story's row; false (row untouched) when the file is a report, not a story. */
static bool record_story(cJSON *row, cJSON *meta, const char *path, const char *text, size_t len,
                         const char *key)
{
    struct jc_story st;
    char err[300];
    size_t i;

    if (jc_story_parse(path, text, len, &st, err, sizeof(err)) != JC_OK) {
        cJSON_AddStringToObject(row, "kind", "story");
        add_str(row, "key", key[0] != '\0' ? key : NULL);
        cJSON_AddStringToObject(row, "status", jc_story_status_name(JC_STATUS_MISSING));
        cJSON_AddStringToObject(meta, "parse_error", err);
        return true;
    }
    if (report_document(path, &st)) {
        jc_story_clear(&st);
        return false;
    }
    cJSON_AddStringToObject(row, "kind", "story");
    cJSON *files = cJSON_AddArrayToObject(meta, "files");
    cJSON *ext = cJSON_AddArrayToObject(meta, "external_files");
    cJSON *list = cJSON_AddArrayToObject(meta, "file_list");
    add_str(row, "key", st.key);
    cJSON_AddStringToObject(row, "title", st.title);
    cJSON_AddStringToObject(row, "status", jc_story_status_name(st.status));
    add_str(meta, "raw_status", st.raw_status);
    add_str(meta, "title_key", st.title_key);
    if (st.key != NULL)
        cJSON_AddStringToObject(meta, "key_source", st.key_from_name ? "name" : "title");
    cJSON_AddNumberToObject(meta, "tasks_total", st.tasks_total);
    cJSON_AddNumberToObject(meta, "tasks_done", st.tasks_done);
    cJSON_AddNumberToObject(meta, "checks_total", st.checks_total);
    cJSON_AddNumberToObject(meta, "checks_done", st.checks_done);
    for (i = 0; i < st.nfiles; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", st.files[i].path);
        add_str(e, "label", st.files[i].label);
        add_str(e, "note", st.files[i].note);
        if (st.files[i].external)
            cJSON_AddBoolToObject(e, "external", true);
        cJSON_AddItemToArray(list, e);
        cJSON_AddItemToArray(st.files[i].external ? ext : files,
                             cJSON_CreateString(st.files[i].path));
    }
    jc_story_clear(&st);
    return true;
}

static cJSON *record_gate(cJSON *row, cJSON *meta, const char *path, const char *text, size_t len)
{
    struct jc_gate g;
    char err[300], title[96];
    cJSON *gate;

    cJSON_AddStringToObject(row, "kind", "qa_gate");
    if (jc_gate_parse(path, text, len, &g, err, sizeof(err)) != JC_OK) {
        memset(&g, 0, sizeof(g));
        g.quality_score = -1;
        gate_key_from_path(path, &g);
        g.problem = strdup(text == NULL ? "not UTF-8 text" : err);
    }
    gate = cJSON_CreateObject();
    add_str(row, "key", g.story_key);
    snprintf(title, sizeof(title), "QA gate %s", g.story_key != NULL ? g.story_key : "");
    cJSON_AddStringToObject(row, "title", title);
    cJSON_AddStringToObject(row, "status", jc_gate_decision_name(g.decision));
    if (g.problem != NULL)
        cJSON_AddStringToObject(meta, "parse_error", g.problem);
    cJSON_AddStringToObject(gate, "path", path);
    add_str(gate, "story_key", g.story_key);
    cJSON_AddStringToObject(gate, "decision", jc_gate_decision_name(g.decision));
    add_str(gate, "raw_decision", g.raw_decision);
    add_str(gate, "status_reason", g.status_reason);
    add_str(gate, "reviewer", g.reviewer);
    if (g.quality_score >= 0)
        cJSON_AddNumberToObject(gate, "quality_score", g.quality_score);
    add_str(gate, "updated", g.updated);
    add_str(gate, "expires", g.expires);
    cJSON_AddItemToObject(gate, "top_issues",
                          g.top_issues != NULL ? g.top_issues : cJSON_CreateArray());
    g.top_issues = NULL;
    if (g.waiver != NULL) {
        cJSON_AddItemToObject(gate, "waiver", g.waiver);
        g.waiver = NULL;
    }
    if (g.problem != NULL)
        cJSON_AddItemToObject(gate, "meta", cJSON_Duplicate(meta, 1));
    jc_gate_clear(&g);
    return gate;
}

cJSON *jc_bmad_record(const char *path, enum jc_artifact_kind kind, const char *text, size_t len,
                      cJSON **gate)
{
    cJSON *row = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    char key[64] = "", err[300];

    *gate = NULL;
    if (row == NULL || meta == NULL) {
        cJSON_Delete(row);
        cJSON_Delete(meta);
        return NULL;
    }
    cJSON_AddStringToObject(row, "path", path);
    jc_bmad_classify(path, key, sizeof(key));
    if (kind == JC_KIND_QA_GATE) {
        bool utf8 = jc_utf8_valid(text, len);
        *gate = record_gate(row, meta, path, utf8 ? text : NULL, utf8 ? len : 0);
    } else if (!jc_utf8_valid(text, len) || memchr(text, '\0', len) != NULL) {
        /* Postgres stores text only as UTF-8: report the file, keep its place */
        cJSON_AddStringToObject(row, "kind",
                                kind == JC_KIND_SPRINT_STATUS ? "other" : jc_bmad_kind_name(kind));
        add_str(row, "key", key[0] != '\0' ? key : NULL);
        if (kind == JC_KIND_STORY)
            cJSON_AddStringToObject(row, "status", jc_story_status_name(JC_STATUS_MISSING));
        cJSON_AddStringToObject(meta, "parse_error", "not UTF-8 text");
    } else if (kind == JC_KIND_STORY && record_story(row, meta, path, text, len, key)) {
        /* done */
    } else if (kind == JC_KIND_SPRINT_STATUS) {
        cJSON *map = NULL;
        const char *name = strrchr(path, '/');
        cJSON_AddStringToObject(row, "kind", "other");
        cJSON_AddStringToObject(row, "title", name != NULL ? name + 1 : path);
        if (jc_sprint_status_parse(path, text, len, &map, err, sizeof(err)) == JC_OK)
            cJSON_AddItemToObject(meta, "sprint_status", map);
        else
            cJSON_AddStringToObject(meta, "parse_error", err);
    } else {
        char *title = first_heading(text, len);
        struct jc_story fm;
        size_t n = front_matter(text, len);
        cJSON_AddStringToObject(row, "kind",
                                kind == JC_KIND_STORY ? "other" : jc_bmad_kind_name(kind));
        memset(&fm, 0, sizeof(fm));
        if (n > 0)
            read_front_matter(text, n, &fm); /* a spec's status: draft, in-review, done */
        if (fm.title != NULL || title != NULL)
            cJSON_AddStringToObject(row, "title", fm.title != NULL ? fm.title : title);
        if (fm.raw_status != NULL) {
            cJSON_AddStringToObject(row, "status",
                                    jc_story_status_name(jc_story_status_parse(fm.raw_status)));
            cJSON_AddStringToObject(meta, "raw_status", fm.raw_status);
        }
        jc_story_clear(&fm);
        free(title);
    }
    cJSON_AddItemToObject(row, "meta", meta);
    return row;
}
