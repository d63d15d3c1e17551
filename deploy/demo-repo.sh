#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Creates a small git repository in BMAD v4 layout (PRD, architecture, stories in several
# statuses, QA gates) at $1, for the demo project of `make run`.
set -euo pipefail
dir=$1
mkdir -p "$dir/docs/stories" "$dir/docs/qa/gates"
cd "$dir"
git init -q -b main .
# the orchestrator pushes story moves here: a checked-out branch takes them into its work tree
git config receive.denyCurrentBranch updateInstead
cat > docs/prd.md <<'MD'
# Taskboard Product Requirements Document (PRD)

## Goals
- Teams see every task of a sprint on one board.
- Agents and humans move cards; the board never loses an update.

## Epic List
- Epic 1: Board foundation — tasks, columns, persistence.
- Epic 2: Collaboration — comments and notifications.
MD
cat > docs/architecture.md <<'MD'
# Taskboard Architecture

## Tech Stack
| Category | Technology |
|---|---|
| API | Node.js 20, Fastify |
| Database | PostgreSQL 15 |

## Source Tree
- `src/api/` HTTP routes
- `src/db/` migrations and queries
MD
cat > docs/stories/1.1.create-task-api.md <<'MD'
# Story 1.1: Create task API

## Status
Done

## Story
**As a** team member, **I want** to create a task, **so that** it shows on the board.

## Tasks / Subtasks
- [x] POST /tasks route
- [x] Validation of title and column
- [x] Integration test

## Dev Agent Record
### File List
- `src/api/tasks.ts` — route
- `src/db/tasks.sql`
- `test/api/tasks.test.ts`
MD
cat > docs/stories/1.2.move-task.md <<'MD'
# Story 1.2: Move a task between columns

## Status
InProgress

## Tasks / Subtasks
- [x] PATCH /tasks/:id/column
- [ ] Optimistic locking on the task version
- [ ] Integration test

## Dev Agent Record
### File List
- src/api/tasks.ts
- src/db/tasks.sql
MD
cat > docs/stories/1.3.board-view.md <<'MD'
# Story 1.3: Board view

## Status
Ready for Review

## Tasks / Subtasks
- [x] GET /board
- [x] Group tasks by column

## Dev Agent Record
### File List
- src/api/board.ts
MD
cat > docs/stories/2.1.comments.md <<'MD'
# Story 2.1: Comments on tasks

## Status
Draft

## Tasks / Subtasks
- [ ] POST /tasks/:id/comments
- [ ] List comments
MD
cat > docs/qa/gates/1.1-create-task-api.yml <<'YML'
schema: 1
story: "1.1"
gate: PASS
status_reason: "All acceptance criteria met; tests cover validation."
reviewer: "Quinn (Test Architect)"
updated: "2026-11-01T10:00:00Z"
quality_score: 90
top_issues: []
YML
cat > docs/qa/gates/1.3-board-view.yml <<'YML'
schema: 1
story: "1.3"
gate: CONCERNS
status_reason: "No test for an empty board."
reviewer: "Quinn (Test Architect)"
updated: "2026-11-02T09:30:00Z"
expires: "2026-12-02T09:30:00Z"
top_issues:
  - id: "TEST-001"
    severity: medium
    finding: "Empty board not covered"
YML
git add -A
git -c user.name="JIVE demo" -c user.email="demo@jive.local" commit -q -m "Taskboard: PRD, architecture, stories 1.1-2.1, QA gates"
