-- Cluster mode: a node claims queue messages for its consumers with a lease, so a queue's
-- consumers may sit on different nodes, and a dead node's messages return to the others when
-- its leases expire (see src/core/queue.rs).
ALTER TABLE queue_messages
    ADD COLUMN owner       TEXT,          -- the node holding the message, NULL when free
    ADD COLUMN lease_until TIMESTAMPTZ;   -- after this, any node may claim it again

CREATE INDEX queue_messages_by_queue ON queue_messages (queue, pos);
CREATE INDEX queue_messages_by_owner ON queue_messages (owner) WHERE owner IS NOT NULL;
