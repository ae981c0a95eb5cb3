//! Bucketed indexes are sized from an authority's row count and re-sized as it grows:
//! resumably, and with every search right at every step.

mod common;

use common::*;
use rollguard_store::IndexTable;
use rollguard_vault::{planned_bits, Search};

fn postcode_bits(f: &Fixture) -> (u32, Option<u32>) {
    let plans = f.vault.read(|_, tx| Ok(tx.index_plans(AUTHORITY)?)).unwrap();
    let p = plans.iter().find(|p| p.table == IndexTable::Postcode).unwrap();
    (p.bits, p.resize.map(|r| r.target))
}

fn finds_everyone(f: &Fixture, entries: &[rollguard_register::EntryText], ids: &[u64]) {
    for (i, t) in entries.iter().enumerate().step_by(97) {
        let q = Search {
            surname: Some(t.surname.clone()),
            postcode: Some(t.postcode.clone()),
            ..Default::default()
        };
        let found = f.vault.search(AUTHORITY, &q).unwrap();
        assert!(found.iter().any(|e| e.id == ids[i]), "entry {i} is found");
        assert!(found.iter().all(|e| e.entry.name.surname == t.surname), "only matching entries");
    }
}

#[test]
fn an_authority_that_grows_is_re_indexed_resumably_and_searches_stay_right_throughout() {
    let mut f = Fixture::new();
    let first = generated(300, 51);
    let mut ids = f.import(&to_csv(&first)).unwrap().ids;
    assert_eq!(postcode_bits(&f), (planned_bits(IndexTable::Postcode, 300), None), "the first import plans");
    // The authority grows twenty-fold; its indexes keep the width they had.
    let mut more = generated(6_000, 52);
    for (i, e) in more.iter_mut().enumerate() {
        e.elector_number = format!("ZQ{}-{}", i / 1000, i % 1000 + 1);
        e.nino.clear();
    }
    ids.extend(f.import(&to_csv(&more)).unwrap().ids);
    let everyone: Vec<_> = first.iter().chain(&more).cloned().collect();
    let (before, _) = postcode_bits(&f);
    let want = planned_bits(IndexTable::Postcode, 6_300);
    assert!(want > before, "{want} bits planned for 6,300 rows, {before} in use");

    // Interrupted after two batches: both widths are in use, and searches look up both.
    let partial = f.vault.reindex(AUTHORITY, 500, Some(2)).unwrap();
    assert!(!partial.finished && partial.moved > 0);
    assert_eq!(postcode_bits(&f), (before, Some(want)));
    finds_everyone(&f, &everyone, &ids);
    // An import waits for the re-size to finish.
    let late = generated(5, 53);
    let refused = f.import(&to_csv(&late)).unwrap_err();
    assert!(matches!(&refused, rollguard_vault::VaultError::Resizing(a) if a == AUTHORITY), "{refused:?}");
    assert!(refused.to_string().contains("rollguard register reindex --authority"), "{refused}");

    let rest = f.vault.reindex(AUTHORITY, 500, None).unwrap();
    assert!(rest.finished);
    assert_eq!(postcode_bits(&f), (want, None));
    finds_everyone(&f, &everyone, &ids);
    let widths: std::collections::HashSet<u32> = f
        .raw()
        .prepare("SELECT value FROM ix_postcode")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|v| 63 - v.unwrap().leading_zeros())
        .collect();
    assert_eq!(widths, [want].into(), "every entry has the new width");
    // Run again: nothing left to do.
    let again = f.vault.reindex(AUTHORITY, 500, None).unwrap();
    assert_eq!((again.moved, again.finished), (0, true));
}
