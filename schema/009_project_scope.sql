-- 009: a token may name the projects it can see (the "projects" claim). jive-mcp sets
-- jive.projects for the transaction: empty (unset) means every project of the org, otherwise
-- the allowed project ids joined by ',' ("none" allows none). A restrictive policy, ANDed with
-- the org's, holds it in Postgres for jive_runtime, like the org boundary itself.
CREATE FUNCTION jive_project_allowed(project uuid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('jive.projects', true), '') = ''
              OR project::text = ANY (string_to_array(current_setting('jive.projects', true), ',')) $$;
GRANT EXECUTE ON FUNCTION jive_project_allowed(uuid) TO jive_runtime;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['artifacts', 'webhook_events', 'jobs', 'agent_status', 'conflicts',
                             'gates', 'runs']
    LOOP
        EXECUTE format('CREATE POLICY project_scope ON %I AS RESTRICTIVE TO jive_runtime '
                       'USING (jive_project_allowed(project_id)) '
                       'WITH CHECK (jive_project_allowed(project_id))', t);
    END LOOP;
END
$$;
CREATE POLICY project_scope ON projects AS RESTRICTIVE TO jive_runtime
    USING (jive_project_allowed(id)) WITH CHECK (jive_project_allowed(id));
