/* SPDX-License-Identifier: MIT */
/*
 * jc/bmad.h: what JIVE understands of a BMAD repository (DESIGN.md "BMAD artifacts"): which
 * files are planning artifacts (v4 and v6 layouts), story files (title, key, status in the
 * variants agents really write, task checkboxes, File List), QA gate YAML (libyaml), and v6
 * sprint-status.yaml. Pure functions over text: no I/O, safe on any thread. Unreadable input is
 * reported as an error for that file, never a crash.
 */
#ifndef JC_BMAD_H
#define JC_BMAD_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "jc/err.h"

enum jc_artifact_kind {
    JC_KIND_NONE = 0, /* not a BMAD artifact: ignored by the scanner */
    JC_KIND_PRD,
    JC_KIND_ARCHITECTURE,
    JC_KIND_EPIC,
    JC_KIND_STORY,
    JC_KIND_QA_GATE,
    JC_KIND_SPRINT_STATUS, /* v6 sprint-status.yaml */
    JC_KIND_OTHER          /* other planning documents */
};

/* "prd", "architecture", "epic", "story", "qa_gate", "sprint_status", "other"; NULL for NONE. */
const char *jc_bmad_kind_name(enum jc_artifact_kind kind);

/*
 * Classifies a repository-relative path. v4: docs/prd.md or docs/prd/ (epic-* there are epics),
 * docs/architecture.md or docs/architecture/, docs/epics/, story files directly in docs/stories/,
 * gate YAML in docs/qa/gates/. v6: files under _bmad-output/planning-artifacts/, story files
 * directly in _bmad-output/implementation-artifacts/, sprint-status.yaml. Stories under an
 * archived/ folder are OTHER. When the name carries a story key (2.3.slug.md, 2.3.story.md,
 * story-6.4-x.md, 1-2-slug.md, 2.3-slug.yml) it is written to key (may be NULL).
 */
enum jc_artifact_kind jc_bmad_classify(const char *path, char *key, size_t keylen);

enum jc_story_status {
    JC_STATUS_UNKNOWN = 0,
    JC_STATUS_DRAFT,
    JC_STATUS_APPROVED,
    JC_STATUS_IN_PROGRESS,
    JC_STATUS_REVIEW,
    JC_STATUS_DONE
};

/* "Draft", "Approved", "InProgress", "Review", "Done"; NULL for UNKNOWN. */
const char *jc_story_status_name(enum jc_story_status s);

/*
 * Normalises a status as agents write it: "Ready for Review", "Ready for Done" (Review),
 * "Done ✅", "In-Progress", "**Approved**", "Ready for Development" (Approved), "Complete"...
 * A sentence that names no status gives UNKNOWN.
 */
enum jc_story_status jc_story_status_parse(const char *raw);

struct jc_story {
    char *key;        /* "2.3", "2.5a", "6.3.1"; from the title, else the file name; may be NULL */
    char *title;      /* the title after "Story 2.3:" (or the whole first heading) */
    char *raw_status; /* the status line as written (trimmed), NULL when there is none */
    enum jc_story_status status;
    int tasks_total;
    int tasks_done;
    char **files; /* File List entries as repository paths, NULL-terminated */
    size_t nfiles;
};

/*
 * Parses a story file. path (repository-relative) supplies the key when the title has none.
 * Returns JC_OK (out filled; free with jc_story_clear) or JC_EINVAL with a reason (e.g. not
 * UTF-8 text, no title). Never fails on odd content: unknown parts are skipped.
 */
enum jc_err jc_story_parse(const char *path, const char *text, size_t len, struct jc_story *out,
                           char *err, size_t errlen) JC_MUSTCHECK;
void jc_story_clear(struct jc_story *s);

/*
 * Returns a copy of the story text with its status set to status (a name from
 * jc_story_status_name), every other byte unchanged: the value line under "## Status", else the
 * value of a "**Status:** x" label, else a "## Status" section inserted after the title.
 * *out_len receives the length. NULL on allocation failure. Caller frees.
 */
char *jc_story_set_status(const char *text, size_t len, const char *status, size_t *out_len);

enum jc_gate_decision {
    JC_GATE_UNKNOWN = 0,
    JC_GATE_PASS,
    JC_GATE_CONCERNS,
    JC_GATE_FAIL,
    JC_GATE_WAIVED
};

/* "PASS", "CONCERNS", "FAIL", "WAIVED"; NULL for UNKNOWN. */
const char *jc_gate_decision_name(enum jc_gate_decision d);

struct jc_gate {
    char *story_key;                /* from story:, else the file name */
    enum jc_gate_decision decision; /* top-level gate: (or decision:), never history entries */
    char *status_reason;
    char *reviewer;
    char *updated; /* as written (ISO-8601 expected) */
    char *expires;
    int quality_score; /* -1 when absent or not a number 0..100 */
    cJSON *top_issues; /* array, possibly empty */
    cJSON *waiver;     /* object or NULL */
};

/*
 * Parses QA gate YAML with libyaml. Returns JC_OK (free with jc_gate_clear) or JC_EINVAL with
 * the YAML error and its line for a file that is not valid YAML or not a mapping.
 */
enum jc_err jc_gate_parse(const char *path, const char *text, size_t len, struct jc_gate *out,
                          char *err, size_t errlen) JC_MUSTCHECK;
void jc_gate_clear(struct jc_gate *g);

/*
 * Parses a v6 sprint-status.yaml: *out receives an object {story key: status name or the raw
 * value} from development_status (keys like "1-2-user-auth" become "1.2"; epic and
 * retrospective entries are skipped). Free with cJSON_Delete. JC_EINVAL with a reason on bad YAML.
 */
enum jc_err jc_sprint_status_parse(const char *text, size_t len, cJSON **out, char *err,
                                   size_t errlen) JC_MUSTCHECK;

/* Converts YAML text (first document) to cJSON; scalars stay strings. NULL with err on error. */
cJSON *jc_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif
