//! Field parsers never panic, and whatever they accept they print back in a form they accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_register::{parse_date, ElectorNumber, Nino, Postcode, Uprn};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = Postcode::parse("postcode", s) {
        assert_eq!(Postcode::parse("postcode", p.as_str()).unwrap(), p);
    }
    if let Ok(n) = Nino::parse("nino", s) {
        assert_eq!(Nino::parse("nino", n.normalised()).unwrap(), n);
    }
    if let Ok(n) = ElectorNumber::parse("number", s) {
        assert_eq!(ElectorNumber::parse("number", &n.to_string()).unwrap(), n);
    }
    let _ = Uprn::parse("uprn", s);
    if let Ok(d) = parse_date("date", s) {
        assert_eq!(parse_date("date", &rollguard_register::format_date(d)).unwrap(), d);
    }
    let _ = rollguard_register::normalise::name_key(s);
    let _ = rollguard_register::normalise::address_line_key(s);
});
