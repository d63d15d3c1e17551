/* SPDX-License-Identifier: MIT */
/*
 * jc/bmad.h: what JIVE understands of a BMAD repository (docs/BMAD.md): which
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

/*
 * The version of the rules below. Rows record it (meta.parser); a project last read by an older
 * version gets a full scan, so every row follows the rules of the code that reads it.
 */
#define JC_BMAD_PARSER_VERSION 3

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
 * directly in _bmad-output/implementation-artifacts/, sprint-status.yaml, spec folders
 * (_bmad-output/<...>/<spec>/SPEC.md, stories.yaml, stories/<id>-<slug>.md), and test-architect
 * gate decisions (_bmad-output/test-artifacts/<...>/gate-decision-*.json|yaml). Stories under an
 * archived/ folder are OTHER. The key a story or gate file name carries (2.3.slug.md,
 * 2.3.story.md, story-6.4-x.md, 1-2-slug.md, 2.3-slug.yml, gate-decision-1.2.json; a spec
 * story's id prefixed by its spec folder, "auth/01") is written to key (may be NULL).
 */
enum jc_artifact_kind jc_bmad_classify(const char *path, char *key, size_t keylen);

/* The one status vocabulary of tables, tools and events (docs/BMAD.md, "Status"). */
enum jc_story_status {
    JC_STATUS_MISSING = 0, /* the story names no status at all */
    JC_STATUS_DRAFT,
    JC_STATUS_APPROVED,
    JC_STATUS_IN_PROGRESS,
    JC_STATUS_REVIEW,
    JC_STATUS_DONE,
    JC_STATUS_BLOCKED,
    JC_STATUS_OTHER /* a status line naming none of the above: its raw text is kept */
};

/* "Missing", "Draft", "Approved", "InProgress", "Review", "Done", "Blocked", "Other". */
const char *jc_story_status_name(enum jc_story_status s);

/*
 * Normalises a status as agents write it: "Ready for Review" (Review), "Ready for Done" (Done:
 * QA approved), "Done ✅", "In-Progress", "**Approved**", "Ready for Development" (Approved),
 * "BLOCKED", v6 "backlog", "ready-for-dev", "in-progress", "review", "in-review", "done",
 * "drafted", "contexted". NULL or empty gives MISSING; a sentence that names no status OTHER.
 */
enum jc_story_status jc_story_status_parse(const char *raw);

/* True for the states in which a story's File List is being changed: InProgress and Review. */
bool jc_story_status_active(enum jc_story_status s);

/* One File List entry: the path apart from what the agent wrote around it. */
struct jc_story_file {
    char *path;    /* normalised: no backticks, "./", trailing "/" or ":line"; "\" as "/" */
    char *label;   /* "NEW", "Modified", a table's change column...; NULL when none */
    char *note;    /* the description after the path; NULL when none */
    bool external; /* outside the repository (~/..., /etc/..., ../other/...): never overlaps */
};

struct jc_story {
    char *key;          /* from the file name, else from the title; may be NULL */
    bool key_from_name; /* key came from the file name */
    char *title_key;    /* the key the title names, when it names one (may differ from key) */
    char *title;        /* the title after "Story 2.3:" (or the whole first heading) */
    char *raw_status;   /* the status line as written (trimmed), NULL when there is none */
    enum jc_story_status status;
    int tasks_total; /* checkboxes inside the Tasks section(s), every level, numbered too */
    int tasks_done;
    int checks_total; /* every checkbox of the file (acceptance criteria, DoD, QA lists...) */
    int checks_done;
    struct jc_story_file *files; /* File List entries in order, duplicates dropped */
    size_t nfiles;
    bool story_sections; /* has a section only stories have: Story, Acceptance Criteria, Tasks,
                            Dev Agent Record (a report about a story has none of them) */
};

/*
 * Parses a story file. path (repository-relative) supplies the key (jc_bmad_classify's rule);
 * the title's key is kept apart as title_key. A YAML front matter block (---) may give status
 * and title. Returns JC_OK (out filled; free with jc_story_clear) or JC_EINVAL with a reason
 * (not text, no title). Never fails on odd content: unknown parts are skipped.
 */
enum jc_err jc_story_parse(const char *path, const char *text, size_t len, struct jc_story *out,
                           char *err, size_t errlen) JC_MUSTCHECK;
void jc_story_clear(struct jc_story *s);

/*
 * One File List line as a jc_story_file (fields owned by *out, free with
 * jc_story_file_clear). Returns false when the line names no path.
 */
bool jc_story_file_parse(const char *line, size_t len, struct jc_story_file *out);
void jc_story_file_clear(struct jc_story_file *f);

/*
 * Returns a copy of the story text with its status set to status (a name from
 * jc_story_status_name), every other byte unchanged: the value line under "## Status", else the
 * value of a "**Status:** x" label, else a "## Status" section inserted after the title.
 * *out_len receives the length. NULL on allocation failure. Caller frees.
 */
char *jc_story_set_status(const char *text, size_t len, const char *status, size_t *out_len);

enum jc_gate_decision {
    JC_GATE_MISSING = 0, /* the gate file names no decision */
    JC_GATE_PASS,
    JC_GATE_CONCERNS,
    JC_GATE_FAIL,
    JC_GATE_WAIVED,
    JC_GATE_OTHER /* a decision that is none of the four exact values: raw_decision keeps it */
};

/* "Missing", "PASS", "CONCERNS", "FAIL", "WAIVED", "Other". */
const char *jc_gate_decision_name(enum jc_gate_decision d);

/* Only exact values normalise: PASS, CONCERNS, FAIL, WAIVED, in any case, quoted or not, with a
 * trailing "# comment"; "PASS with CONCERNS" is OTHER. NULL or empty is MISSING. */
enum jc_gate_decision jc_gate_decision_parse(const char *raw);

struct jc_gate {
    char *story_key;                /* from story:, else the file name */
    enum jc_gate_decision decision; /* top-level gate: (else decision:, gate_status:) */
    char *raw_decision;             /* the value as written, NULL when there is none */
    char *problem;                  /* why the file did not parse whole; NULL when it did */
    char *status_reason;
    char *reviewer;
    char *updated; /* as written (ISO-8601 expected) */
    char *expires;
    int quality_score; /* -1 when absent or not a number 0..100 */
    cJSON *top_issues; /* array, possibly empty */
    cJSON *waiver;     /* object or NULL */
};

/*
 * Parses a QA gate: YAML with libyaml (v4 docs/qa/gates), or JSON for a *.json path (v6
 * test-architect gate-decision files, gate_status). A file libyaml refuses, or that is not a
 * mapping, still gives a gate: its top-level "gate:" (else "decision:") line is read line by
 * line and problem says what was wrong. Every text file is one gate: JC_OK (free with
 * jc_gate_clear); JC_EINVAL with a reason only for a file that is not text.
 */
enum jc_err jc_gate_parse(const char *path, const char *text, size_t len, struct jc_gate *out,
                          char *err, size_t errlen) JC_MUSTCHECK;
void jc_gate_clear(struct jc_gate *g);

/*
 * Parses a v6 sprint-status.yaml (development_status), or a spec folder's stories.yaml (a
 * "stories" list of {id, status} or a map id → status): *out receives an object {story key:
 * status name, or the raw value when it names none}. Keys are those of jc_bmad_classify
 * ("1-2-user-auth" becomes "1.2"; a spec's ids are prefixed by its folder); epic and
 * retrospective entries are skipped. Free with cJSON_Delete. JC_EINVAL with a reason on bad YAML.
 */
enum jc_err jc_sprint_status_parse(const char *path, const char *text, size_t len, cJSON **out,
                                   char *err, size_t errlen) JC_MUSTCHECK;

/*
 * One BMAD file as the scanner records it; the orchestrator's scan and `jivectl inspect` share
 * it. Returns the artifact row {path, kind, key, title, status, meta} (NULL only when out of
 * memory). meta holds what a reader needs beyond the columns: raw_status, title_key,
 * key_source ("name" or "title"), tasks_total/done, checks_total/done, files (in-repository
 * paths), external_files, file_list (entries with label and note), sprint_status, and
 * parse_error for a per-file problem (the file still counts). For a QA gate file *gate receives
 * the gate row {path, story_key, decision, raw_decision, status_reason, reviewer,
 * quality_score, updated, expires, top_issues, waiver, meta}; else NULL. Caller frees both.
 */
cJSON *jc_bmad_record(const char *path, enum jc_artifact_kind kind, const char *text, size_t len,
                      cJSON **gate);

/* Converts YAML text (first document) to cJSON; scalars stay strings. NULL with err on error. */
cJSON *jc_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif
