-- 0003: energy management (SPEC §2): the shed event log, the external shed
-- level, operator overrides (charge now per session, delay cancel per charger,
-- connector caps) and the last charging-profile limits each charger accepted
-- (so after a restart evsite knows which offline allocation is in force).

CREATE TABLE shed_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL CHECK (source IN ('meter', 'external')),
    panel_id TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    depth_a REAL NOT NULL DEFAULT 0,
    level TEXT CHECK (level IS NULL OR json_valid(level)),
    chargers TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(chargers))
);
CREATE INDEX shed_events_started ON shed_events (started_at);

-- One row: the external shed level in force (NULL data = none).
CREATE TABLE energy_external_shed (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    data TEXT CHECK (data IS NULL OR json_valid(data)),
    since TEXT
);

CREATE TABLE energy_charge_now (
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id TEXT,
    set_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, connector_id)
);

CREATE TABLE energy_delay_cancel (
    charger_id TEXT PRIMARY KEY NOT NULL,
    set_at TEXT NOT NULL
);

CREATE TABLE energy_connector_caps (
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    limit_a REAL NOT NULL CHECK (limit_a >= 0),
    set_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, connector_id)
);

-- purpose 'tx_default' uses connector_id 0 (the whole station).
CREATE TABLE energy_limits_sent (
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('tx', 'tx_default')),
    limit_a REAL,
    transaction_id TEXT,
    accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    sent_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, connector_id, purpose)
);
