-- cic-control schema, version 4: the last heartbeat of an agent node, so that every replica
-- sharing the store sees an agent alive whichever replica its heartbeats reach.
--
-- last_heartbeat_at: unix ms of the node agent's last heartbeat; 0 = none (not an agent node).
ALTER TABLE nodes ADD COLUMN last_heartbeat_at BIGINT NOT NULL DEFAULT 0;
