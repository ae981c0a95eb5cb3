-- District coverage over its own window (four weeks), apart from the budgets' charges, which
-- are kept only as long as the longest budget window: when each reader last read each elector
-- of each polling district (the district as its blind index).
DROP INDEX read_charges_by_area;
ALTER TABLE read_charges DROP COLUMN area;
CREATE TABLE area_charges (
    principal   TEXT    NOT NULL,
    area        INTEGER NOT NULL,
    elector_id  INTEGER NOT NULL,
    read_at     INTEGER NOT NULL,
    PRIMARY KEY (principal, area, elector_id)
) WITHOUT ROWID;
CREATE INDEX area_charges_by_time ON area_charges (principal, read_at);
