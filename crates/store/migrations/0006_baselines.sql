-- Baselines: how many distinct records (electors and applications) each principal read on
-- each day (UTC), and the peer group it read them in (its role, the authority, human or
-- service), so a day far above the principal's own trailing weeks and its peers' is seen.
CREATE TABLE daily_reads (
    principal   TEXT    NOT NULL,
    day         INTEGER NOT NULL,   -- days since 1970-01-01
    peer_group  TEXT    NOT NULL,
    records     INTEGER NOT NULL,
    -- The day's alert threshold once the day passed the floor: 0 means no baseline to judge
    -- by; NULL, not worked out yet.
    threshold   INTEGER,
    alerted     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (principal, day)
) WITHOUT ROWID;
CREATE INDEX daily_reads_by_group ON daily_reads (peer_group, day);
