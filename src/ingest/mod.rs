//! Reading what customers and orders arrive as: streamed CSV records and the header rules
//! (normalised names, the id column, missing-value tokens) that the customer import, the
//! order import and `segstore cluster` share. No SQL and no HTTP here.

pub mod csv;
pub mod customers;
pub mod dataset;
pub mod orders;
