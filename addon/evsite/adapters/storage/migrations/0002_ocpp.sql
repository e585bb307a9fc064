-- 0002: the OCPP central system (SPEC §4): what chargers told us and what we
-- installed on them. Times are ISO 8601 UTC strings. Every row a charger's
-- message causes is committed before the message is answered.

-- One row per charger that ever connected (or was given a password).
-- `pending` = 1: an unknown charger accepted for an admin to adopt (§4.1).
CREATE TABLE ocpp_chargers (
    charger_id TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT,
    pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
    adopted_at TEXT,
    first_seen TEXT,
    last_seen TEXT,
    remote_addr TEXT,
    ocpp_version TEXT,
    vendor TEXT,
    model TEXT,
    serial TEXT,
    firmware TEXT,
    boot_reason TEXT,
    last_boot_at TEXT,
    rate_unit TEXT CHECK (rate_unit IS NULL OR rate_unit IN ('A', 'W')),
    features TEXT,
    local_list_version INTEGER,
    firmware_status TEXT,
    firmware_status_at TEXT,
    diagnostics_status TEXT,
    diagnostics_status_at TEXT
);

-- Sessions (transactions). `id` is the OCPP 1.6 transactionId evsite assigns;
-- `transaction_id` is the id the charger knows (1.6: str(id); 2.0.1: its own).
-- `session_number` follows SPEC §3: local starts 1, 2, ... per charger; remote
-- starts 1,000,000,000, ... per charger.
CREATE TABLE ocpp_sessions (
    id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id TEXT NOT NULL,
    ocpp_version TEXT NOT NULL,
    id_tag TEXT,
    auth_status TEXT,
    start_kind TEXT NOT NULL CHECK (start_kind IN ('local', 'remote')),
    session_number INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    start_key TEXT,
    stopped_at TEXT,
    meter_start_wh REAL,
    meter_stop_wh REAL,
    last_meter_wh REAL,
    last_meter_at TEXT,
    energy_wh REAL CHECK (energy_wh IS NULL OR energy_wh >= 0),
    stop_reason TEXT,
    stop_id_tag TEXT,
    reservation_id INTEGER,
    remote_start_id INTEGER,
    flags TEXT NOT NULL DEFAULT '',
    UNIQUE (charger_id, transaction_id),
    UNIQUE (charger_id, session_number)
);
CREATE INDEX ocpp_sessions_started ON ocpp_sessions (started_at DESC, id DESC);
CREATE INDEX ocpp_sessions_open ON ocpp_sessions (charger_id, connector_id)
    WHERE stopped_at IS NULL;
-- A replayed StartTransaction (same tag, connector, charger timestamp) is the
-- same session.
CREATE UNIQUE INDEX ocpp_sessions_start_key
    ON ocpp_sessions (charger_id, connector_id, COALESCE(id_tag, ''), start_key)
    WHERE start_key IS NOT NULL;

-- Meter values: one row per sampled timestamp. `digest` hashes the transaction,
-- timestamp and sampled values, so a replayed value is stored once.
CREATE TABLE ocpp_meter_values (
    id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    session_id INTEGER,
    transaction_id TEXT,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    energy_wh REAL,
    power_w REAL,
    current_a TEXT,
    soc REAL,
    context TEXT,
    sampled TEXT NOT NULL CHECK (json_valid(sampled)),
    digest TEXT NOT NULL,
    UNIQUE (charger_id, connector_id, digest)
);
CREATE INDEX ocpp_meter_values_session ON ocpp_meter_values (session_id, at);

-- A stored (not ignored) reading advances its session's last register when it
-- is the newest; doing it here keeps a MeterValues to one INSERT, so the
-- group-commit writer runs a whole batch of them as one executemany.
CREATE TRIGGER ocpp_meter_values_session_last
AFTER INSERT ON ocpp_meter_values
WHEN NEW.session_id IS NOT NULL AND NEW.energy_wh IS NOT NULL
BEGIN
    UPDATE ocpp_sessions
    SET last_meter_wh = NEW.energy_wh,
        last_meter_at = NEW.at,
        meter_start_wh = COALESCE(meter_start_wh, NEW.energy_wh)
    WHERE id = NEW.session_id
      AND (last_meter_at IS NULL OR last_meter_at <= NEW.at);
END;

-- Latest status per connector (0 = the charger itself); older replays never
-- overwrite newer ones.
CREATE TABLE ocpp_status (
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    vendor_error_code TEXT,
    info TEXT,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, connector_id)
);

CREATE TABLE ocpp_status_log (
    id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    vendor_error_code TEXT,
    info TEXT,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (charger_id, connector_id, at, status, error_code)
);

-- Answers to transaction messages, by message id and payload digest, so a
-- repeated message gets the same answer even after a restart.
CREATE TABLE ocpp_messages (
    charger_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    action TEXT NOT NULL,
    response TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, message_id, digest)
);
CREATE INDEX ocpp_messages_received ON ocpp_messages (received_at);

-- Notifications worth keeping: firmware/diagnostics/log status, security
-- events, NotifyEvent, DataTransfer, boots.
CREATE TABLE ocpp_events (
    id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data))
);
CREATE INDEX ocpp_events_charger ON ocpp_events (charger_id, id);

-- What evsite installed: charging profiles by purpose and stack level.
CREATE TABLE ocpp_profiles (
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    stack_level INTEGER NOT NULL,
    profile_id INTEGER NOT NULL,
    limit_value REAL NOT NULL,
    unit TEXT NOT NULL,
    transaction_id TEXT,
    profile TEXT NOT NULL CHECK (json_valid(profile)),
    installed_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, connector_id, purpose, stack_level)
);

CREATE TABLE ocpp_reservations (
    charger_id TEXT NOT NULL,
    reservation_id INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    expiry TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (charger_id, reservation_id)
);
