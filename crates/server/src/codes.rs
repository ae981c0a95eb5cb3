//! Parsing the register's code tables from request fields, with errors that list the codes.

use crate::problem::ApiError;
use std::fmt::Display;
use std::str::FromStr;

pub fn parse<T: FromStr + Display>(field: &str, value: &str, all: &[T]) -> Result<T, ApiError> {
    value.parse().map_err(|_| {
        let known: Vec<String> = all.iter().map(|c| c.to_string()).collect();
        ApiError::bad_request(format!("{field}: unknown code (one of {})", known.join(", ")))
    })
}
