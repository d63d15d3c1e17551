-- Webhook payloads (several KB of JSON each) are TOASTed; lz4 compresses them several times
-- faster than the default pglz, which was the biggest single cost of storing a delivery
-- (docs/PERFORMANCE.md). Only new rows are affected; old ones stay readable as they are.
-- A server built without lz4 keeps pglz (a notice says so) rather than refusing the schema.
DO $$
BEGIN
    ALTER TABLE webhook_events ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: webhook payloads stay compressed with pglz';
END $$;
