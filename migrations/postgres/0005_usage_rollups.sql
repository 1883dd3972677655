-- cic-control schema, version 5: hourly usage rollups by org, environment, model and region.
--
-- insert_usage adds the rows it actually inserted into usage_records (not the request ids it
-- skipped as already present) to their hour in the same transaction, so a replayed or retried
-- batch changes neither table. hour_start: unix ms, created_at rounded down to the hour.
CREATE TABLE usage_hourly (
  org_id            TEXT NOT NULL,
  environment_id    TEXT NOT NULL,
  model             TEXT NOT NULL,
  region            TEXT NOT NULL,
  hour_start        BIGINT NOT NULL,
  requests          BIGINT NOT NULL DEFAULT 0,
  prompt_tokens     BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  cached_tokens     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, environment_id, model, region, hour_start)
);
CREATE INDEX usage_hourly_hour_idx ON usage_hourly (hour_start);

-- Records stored before this version are rolled up once here.
INSERT INTO usage_hourly (org_id, environment_id, model, region, hour_start, requests,
                          prompt_tokens, completion_tokens, cached_tokens)
SELECT org_id, environment_id, model, region, created_at - created_at % 3600000, COUNT(*),
       SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens)
FROM usage_records
GROUP BY org_id, environment_id, model, region, created_at - created_at % 3600000;
