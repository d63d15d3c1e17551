-- 007: every audit row carries the id jive-mcp gave it when the call was answered, so a row
-- replayed from the journal after a crash is inserted once (ON CONFLICT (entry_id) DO NOTHING).
ALTER TABLE mcp_audit_logs ADD COLUMN entry_id uuid;
CREATE UNIQUE INDEX mcp_audit_logs_entry_idx ON mcp_audit_logs (entry_id);
