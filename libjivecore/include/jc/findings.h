/* SPDX-License-Identifier: MIT */
/*
 * jc/findings.h: what JIVE reports about a project's state (docs/BMAD.md, "Findings"), computed
 * from the scanner's records. Pure functions over cJSON: no I/O, safe on any thread; the
 * orchestrator applies the result to the conflicts table, `jivectl inspect` prints it.
 *
 * The state is {stories, gates, agents, sprint}:
 *   stories [{path, key, key_source ("name"|"title"), title_key, status, files: [in-repo path]}]
 *   gates   [{key, decision, path, updated}]
 *   agents  [{agent, name, story}]            (agents reporting work on a story)
 *   sprint  [{story key: status}]             (sprint-status.yaml / stories.yaml maps)
 */
#ifndef JC_FINDINGS_H
#define JC_FINDINGS_H

#include <cjson/cJSON.h>

/*
 * The findings a state implies: an array of {kind, fingerprint, severity, summary, details}
 * with every fingerprint once, whatever the input (a repeated fingerprint keeps its first
 * finding). Kinds: file_overlap (two active stories, InProgress or Review, share an
 * in-repository path: one per pair, by sorting and grouping), agent_overlap, gate_violation (a
 * Done story whose current gate, the latest by updated, is FAIL), duplicate_key (two story files
 * whose names carry one key), key_mismatch (a title naming another key than the file name),
 * status_mismatch (story file and sprint-status disagree). Expired gates are not findings.
 * Returns NULL only when out of memory; the caller frees the result.
 */
cJSON *jc_findings_compute(const cJSON *state);

/*
 * Builds a state from jc_bmad_record rows and gate rows (arrays, borrowed) and agents (may be
 * NULL): what the orchestrator loads from the database, for records held in memory. Caller
 * frees the result.
 */
cJSON *jc_findings_state(const cJSON *rows, const cJSON *gates, const cJSON *agents);

/* Severity rank for ordering: critical 4, high 3, medium 2, low 1, anything else 0. */
int jc_findings_severity_rank(const char *severity);

#endif
