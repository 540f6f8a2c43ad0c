//! Integration tests: the real server on a random port, against a fresh PostgreSQL database
//! per test (cloned from a migrated template), through HTTP only.

mod access;
mod algorithms;
mod attributes;
mod bisecting;
mod categorical;
mod changes;
mod charts;
mod cli;
mod compression;
mod configurations;
mod contract;
mod customers;
mod dashboard;
mod docker;
mod errors;
mod examples;
mod faults;
mod health;
mod helpers;
mod import;
mod observability;
mod openapi;
mod orders;
mod process;
mod readme;
mod robustness;
mod runs;
mod security;
mod segmentations;
mod stored;
mod warm;
mod weighted;
