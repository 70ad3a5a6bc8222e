-- Retries: each attempt is its own execution, pointing at the first attempt's.
ALTER TABLE executions ADD COLUMN retry_of TEXT;
-- Keyset pagination and retention walk executions by update time.
CREATE INDEX executions_by_updated_time ON executions (updated_time, execution_id);
CREATE INDEX executions_by_job_and_updated_time ON executions (job_id, updated_time);
