use crate::error::{Rule, ValidationError};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The four nations, each with its own franchise rules and marker table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nation {
    England,
    Wales,
    Scotland,
    NorthernIreland,
}

impl Nation {
    pub const ALL: [Nation; 4] = [Nation::England, Nation::Wales, Nation::Scotland, Nation::NorthernIreland];

    pub fn code(self) -> &'static str {
        match self {
            Nation::England => "england",
            Nation::Wales => "wales",
            Nation::Scotland => "scotland",
            Nation::NorthernIreland => "northern-ireland",
        }
    }
}

impl fmt::Display for Nation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Nation {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Nation::ALL
            .into_iter()
            .find(|n| n.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ValidationError::new("nation", Rule::UnknownCode("nation")))
    }
}

/// A franchise marker code from a nation's table. The empty marker means full franchise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FranchiseMarker(String);

impl FranchiseMarker {
    pub fn full() -> Self {
        Self(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_full(&self) -> bool {
        self.0.is_empty()
    }
}

/// One nation's franchise markers: data, not an enum, so an authority can load its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FranchiseTable {
    pub nation: Nation,
    markers: BTreeMap<String, MarkerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerInfo {
    pub elections: Vec<String>,
    pub description: String,
}

const DEFAULT_TABLES: &str = include_str!("../data/franchise-markers.txt");

/// Why a franchise table file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("franchise table line {line}: {reason}")]
pub struct TableError {
    pub line: usize,
    pub reason: String,
}

impl FranchiseTable {
    /// The table shipped with Rollguard for `nation`.
    pub fn default_for(nation: Nation) -> Self {
        Self::parse(DEFAULT_TABLES, nation).expect("shipped franchise table is valid")
    }

    /// Reads `NATION|CODE|ELECTIONS|DESCRIPTION` lines, keeping those for `nation`.
    pub fn parse(text: &str, nation: Nation) -> Result<Self, TableError> {
        let mut markers = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| TableError { line: i + 1, reason: reason.into() };
            let parts: Vec<&str> = line.split('|').collect();
            let [n, code, elections, description] = parts[..] else {
                return Err(err("expected NATION|CODE|ELECTIONS|DESCRIPTION"));
            };
            let n: Nation = n.parse().map_err(|_| err("unknown nation"))?;
            let code = code.trim();
            if code.is_empty() || code.len() > 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(err("marker code must be one or two capital letters"));
            }
            if n == nation {
                let elections = elections.split(',').map(|e| e.trim().to_owned()).collect();
                let info = MarkerInfo { elections, description: description.trim().to_owned() };
                if markers.insert(code.to_owned(), info).is_some() {
                    return Err(err("marker code repeated for this nation"));
                }
            }
        }
        Ok(Self { nation, markers })
    }

    /// Checks a marker against the table; empty means full franchise.
    pub fn marker(&self, field: &str, code: &str) -> Result<FranchiseMarker, ValidationError> {
        let code = code.trim().to_ascii_uppercase();
        if code.is_empty() || self.markers.contains_key(&code) {
            Ok(FranchiseMarker(code))
        } else {
            Err(ValidationError::new(field, Rule::UnknownFranchiseMarker))
        }
    }

    pub fn codes(&self) -> impl Iterator<Item = (&str, &MarkerInfo)> {
        self.markers.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_per_nation() {
        let wales = FranchiseTable::default_for(Nation::Wales);
        let england = FranchiseTable::default_for(Nation::England);
        assert_eq!(wales.marker("m", "b").unwrap().as_str(), "B");
        assert_eq!(england.marker("m", "B").unwrap_err().rule, Rule::UnknownFranchiseMarker);
        assert!(england.marker("m", "").unwrap().is_full());
    }

    #[test]
    fn table_errors_name_the_line() {
        let err = FranchiseTable::parse("# c\nengland|F|x|y\nengland|F|x\n", Nation::England).unwrap_err();
        assert_eq!(err.line, 3);
        let err = FranchiseTable::parse("england|F|x|y\nengland|F|x|y\n", Nation::England).unwrap_err();
        assert_eq!(err.line, 2);
    }
}
