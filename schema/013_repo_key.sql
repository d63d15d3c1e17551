-- SPDX-License-Identifier: MIT
-- 013_repo_key.sql: one repository belongs to one org, however its URL is spelled.
--
-- The canonical key of a repository URL: for hosted ones the host and path, lower-cased (GitHub
-- and the other hosts compare owner and name case-insensitively), without scheme, user, port,
-- ".git" and trailing '/'; https://GitHub.com/Acme/Shop.git/, ssh://git@github.com:22/acme/shop
-- and git@github.com:acme/shop.git are all "github.com/acme/shop". Local repositories are
-- "file:" and the path without file://, trailing '/' and ".git".
CREATE FUNCTION jive_repo_key(url text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN u ~* '^[a-z][a-z0-9+.-]*://' AND u !~* '^file://' OR u ~ '^[^/:@]+@[^/:]+:' THEN
            lower(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                u, '^[a-z][a-z0-9+.-]*://', '', 'i'),   -- the scheme
                '^[^@/]*@', ''),                         -- a user
                '^([^/:]+):([0-9]+/|/)?', '\1/'),        -- a port, or scp's ':'
                '(\.git)?/*$', ''))                      -- ".git" and trailing '/'
        ELSE 'file:' || regexp_replace(regexp_replace(regexp_replace(
                u, '^file://', '', 'i'), '/+$', ''), '\.git$', '')
    END
    FROM (SELECT btrim(url) AS u) s
$$;

DO $$
DECLARE
    dup text;
BEGIN
    SELECT string_agg(repo_url, ', ') INTO dup FROM projects
    WHERE jive_repo_key(repo_url) IN (SELECT jive_repo_key(repo_url) FROM projects
                                      GROUP BY 1 HAVING count(*) > 1);
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'projects name one repository under several spellings: %; delete or '
                        'change all but one before migrating', dup;
    END IF;
END $$;

ALTER TABLE projects ADD COLUMN repo_key text GENERATED ALWAYS AS (jive_repo_key(repo_url)) STORED;
CREATE UNIQUE INDEX projects_repo_key_idx ON projects (repo_key);
