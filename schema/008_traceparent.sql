-- 008: the W3C trace context (traceparent) of the request that made a job or a tool call, next
-- to its request id, so a job and its audit row can be joined to the caller's trace.
ALTER TABLE jobs ADD COLUMN traceparent text;
ALTER TABLE mcp_audit_logs ADD COLUMN traceparent text;
