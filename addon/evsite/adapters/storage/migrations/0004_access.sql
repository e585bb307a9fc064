-- 0004: access control (SPEC §3): drivers, RFID tags, group membership, access
-- policies and where they apply, multifamily private links, the local lists
-- sent to chargers, and the log of every authorization decision.
-- Site tables (chargers, driver_groups) are not referenced by foreign keys: a
-- whole-site import replaces them, and the access service checks ids instead.

CREATE TABLE drivers (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data) AND json_extract(data, '$.id') = id)
);

CREATE TABLE rfid_tags (
    id_tag TEXT PRIMARY KEY NOT NULL,
    parent TEXT REFERENCES rfid_tags (id_tag) DEFERRABLE INITIALLY DEFERRED,
    owner_kind TEXT CHECK (owner_kind IN ('driver', 'vehicle')),
    owner_id TEXT,
    data TEXT NOT NULL CHECK (
        json_valid(data) AND json_extract(data, '$.id_tag') = id_tag
    ),
    CHECK ((owner_kind IS NULL) = (owner_id IS NULL)),
    CHECK (parent IS NULL OR parent <> id_tag)
);
CREATE INDEX rfid_tags_owner ON rfid_tags (owner_kind, owner_id);
CREATE INDEX rfid_tags_parent ON rfid_tags (parent);

CREATE TABLE group_members (
    group_id TEXT NOT NULL,
    member_kind TEXT NOT NULL CHECK (member_kind IN ('driver', 'vehicle')),
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_kind, member_id)
);
CREATE INDEX group_members_member ON group_members (member_kind, member_id);

CREATE TABLE access_policies (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data) AND json_extract(data, '$.id') = id)
);

CREATE TABLE charger_access (
    charger_id TEXT PRIMARY KEY NOT NULL,
    usable_by TEXT REFERENCES access_policies (id),
    visible_to TEXT REFERENCES access_policies (id)
);

-- Multifamily: the primary key makes "a second driver cannot be linked" a
-- property of the database, not only of the code.
CREATE TABLE private_links (
    charger_id TEXT PRIMARY KEY NOT NULL,
    driver_id TEXT NOT NULL REFERENCES drivers (id),
    linked_at TEXT NOT NULL
);

CREATE TABLE local_lists (
    charger_id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0),
    entries TEXT NOT NULL CHECK (json_valid(entries)),
    synced_at TEXT NOT NULL
);

CREATE TABLE auth_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    charger_id TEXT NOT NULL,
    connector_id INTEGER,
    id_tag TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    rule TEXT NOT NULL,
    driver_id TEXT
);
CREATE INDEX auth_log_charger ON auth_log (charger_id, id);
CREATE INDEX auth_log_tag ON auth_log (id_tag, id);
