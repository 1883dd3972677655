-- cic-control schema, version 3 (SQLite dialect): model nodes persisted with their origin, their
-- registration token and their lifecycle times, so a node registered at run time (admin API or
-- agent) survives a restart and can be found by its token.
--
-- source:            config | admin | agent (who declared the node; checked by the caller)
-- token_hash:        hex HMAC of the node's registration token; '' = the node has none
-- created_at:        unix ms of the first insert
-- eviction_deadline: unix ms after which a draining node is removed; 0 = none

ALTER TABLE nodes ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
ALTER TABLE nodes ADD COLUMN token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN eviction_deadline INTEGER NOT NULL DEFAULT 0;
-- Nodes from before version 3 were last written at updated_at: the best first-seen time known.
UPDATE nodes SET created_at = updated_at;
-- A token identifies one node; nodes without a token ('') are not constrained.
CREATE UNIQUE INDEX nodes_token_hash_idx ON nodes (token_hash) WHERE token_hash <> '';
