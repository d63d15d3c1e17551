-- SPDX-License-Identifier: MIT
-- 005_try_timestamptz.sql: dates in QA gate files are written by agents; a malformed one must
-- not fail the scan of the whole repository.
CREATE FUNCTION jive_try_timestamptz(v text) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    RETURN v::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
GRANT EXECUTE ON FUNCTION jive_try_timestamptz(text) TO jive_runtime;
