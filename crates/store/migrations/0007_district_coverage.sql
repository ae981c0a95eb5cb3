-- District coverage: how many entries each polling district had when it was imported (keyed
-- by a blind index of the district, never its code), and the district each read charge of an
-- elector falls in, so a reader covering a district is seen whatever order it reads in.
CREATE TABLE district_sizes (
    authority   TEXT    NOT NULL,
    area        INTEGER NOT NULL,
    electors    INTEGER NOT NULL,
    PRIMARY KEY (authority, area)
) WITHOUT ROWID;
ALTER TABLE read_charges ADD COLUMN area INTEGER;
CREATE INDEX read_charges_by_area ON read_charges (principal, area, read_at) WHERE area IS NOT NULL;
