-- Rollguard schema 9: four eyes. A change that widens what someone can do (a grant of a role
-- that reads personal data or administers, a second-factor reset, the reversal of an
-- automatic response) is proposed by one administrator and takes effect when a second
-- approves it. Nothing personal: principal names, role codes, response ids.
CREATE TABLE proposals (
    id           INTEGER PRIMARY KEY,
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    proposed_by  TEXT    NOT NULL,
    proposed_at  INTEGER NOT NULL,
    decided_by   TEXT,
    decided_at   INTEGER,
    decision     TEXT
);
CREATE INDEX proposals_pending ON proposals (decided_at, proposed_at);
