-- SPDX-License-Identifier: MIT
-- 017_memory_search.sql: memory_search through a function that applies the tenant rules itself.
-- Under row-level security Postgres does not use the full-text index: the @@ operator is not
-- leakproof, so it may not run before the policies, and a project's notes are read one by one
-- (100,000 notes: 80 ms instead of 5). This function runs as the owner and filters by exactly
-- what the policies check (the transaction's org, the token's projects claim), then by the
-- project, so the GIN index is used; jive-mcp calls it as the runtime role, which may do nothing
-- else with it.
CREATE FUNCTION jive_memory_search(project uuid, query text, want_tags text[], story text,
                                   lim integer)
    RETURNS TABLE (id bigint, body text, tags text[], story_key text, author_id text,
                   author_name text, created_at timestamptz, rank real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF query IS NULL THEN
        RETURN QUERY
        SELECT n.id, n.body, n.tags, n.story_key, n.author_id, n.author_name, n.created_at,
               0::real
        FROM memory_notes n
        WHERE n.org_id = jive_current_org() AND jive_project_allowed(n.project_id)
          AND n.project_id = project AND (want_tags IS NULL OR n.tags @> want_tags)
          AND (story IS NULL OR n.story_key = story)
        ORDER BY n.created_at DESC, n.id DESC LIMIT lim;
    ELSE
        RETURN QUERY
        SELECT n.id, n.body, n.tags, n.story_key, n.author_id, n.author_name, n.created_at,
               ts_rank_cd(n.tsv, q)
        FROM memory_notes n, websearch_to_tsquery('english', query) q
        WHERE n.tsv @@ q AND n.org_id = jive_current_org()
          AND jive_project_allowed(n.project_id) AND n.project_id = project
          AND (want_tags IS NULL OR n.tags @> want_tags)
          AND (story IS NULL OR n.story_key = story)
        ORDER BY 8 DESC, n.created_at DESC, n.id DESC LIMIT lim;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION jive_memory_search(uuid, text, text[], text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jive_memory_search(uuid, text, text[], text, integer) TO jive_runtime;
