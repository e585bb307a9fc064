-- 0001: the site model (SPEC §1).
-- Ids and parent references are real columns with foreign keys, so the database
-- itself refuses a panel deleted while chargers or child panels hang under it.
-- `data` holds the schema-normalised dict of the row (config/build.py), and
-- `position` keeps the order of the site file so an export reproduces it.
-- Foreign keys are checked at COMMIT (DEFERRABLE INITIALLY DEFERRED) so a whole
-- site can be written in file order, children before their parents.

CREATE TABLE site (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data) AND json_extract(data, '$.id') = id)
);

CREATE TABLE energy_settings (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    data TEXT NOT NULL CHECK (json_valid(data))
);

CREATE TABLE panels (
    id TEXT PRIMARY KEY NOT NULL,
    parent TEXT REFERENCES panels (id) DEFERRABLE INITIALLY DEFERRED,
    position INTEGER NOT NULL,
    data TEXT NOT NULL CHECK (
        json_valid(data)
        AND json_extract(data, '$.id') = id
        AND json_extract(data, '$.parent') IS parent
    ),
    CHECK (parent IS NULL OR parent <> id)
);
CREATE INDEX panels_parent ON panels (parent);

CREATE TABLE chargers (
    id TEXT PRIMARY KEY NOT NULL,
    parent TEXT NOT NULL REFERENCES panels (id) DEFERRABLE INITIALLY DEFERRED,
    position INTEGER NOT NULL,
    data TEXT NOT NULL CHECK (
        json_valid(data)
        AND json_extract(data, '$.id') = id
        AND json_extract(data, '$.parent') = parent
    )
);
CREATE INDEX chargers_parent ON chargers (parent);

CREATE TABLE driver_groups (
    id TEXT PRIMARY KEY NOT NULL,
    position INTEGER NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data) AND json_extract(data, '$.id') = id)
);

CREATE TABLE delay_windows (
    id TEXT PRIMARY KEY NOT NULL,
    position INTEGER NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data) AND json_extract(data, '$.id') = id)
);
