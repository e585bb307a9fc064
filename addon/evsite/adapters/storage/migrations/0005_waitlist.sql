-- 0005: waitlists (SPEC §5): policies, where they apply, the queue state, and
-- the driver log and event log (seed 003 "Driver Log", "Event Log").
-- The queue state is one JSON document written after every transition, in the
-- same transaction as its log rows, so a restart resumes exactly where it was.

CREATE TABLE waitlist_policies (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data) AND json_extract(data, '$.id') = id)
);

CREATE TABLE waitlist_assignments (
    target_kind TEXT NOT NULL CHECK (target_kind IN ('charger', 'station_group')),
    target_id TEXT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES waitlist_policies (id),
    PRIMARY KEY (target_kind, target_id)
);

CREATE TABLE waitlist_state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    data TEXT NOT NULL CHECK (json_valid(data))
);

CREATE TABLE waitlist_driver_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    driver_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL CHECK (json_valid(detail))
);
CREATE INDEX waitlist_driver_log_driver ON waitlist_driver_log (driver_id, id);

CREATE TABLE waitlist_event_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    driver_id TEXT,
    charger_id TEXT,
    connector_id INTEGER,
    detail TEXT NOT NULL CHECK (json_valid(detail))
);
CREATE INDEX waitlist_event_log_queue ON waitlist_event_log (queue_id, id);
