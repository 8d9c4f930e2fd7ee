//! Types that cross a boundary in classbook: the course model (backend → page),
//! the run protocol (page ↔ backend WebSocket, page ↔ Python worker), and pure conversions
//! (`check`: exercise verdicts from the check harness's records; `ipynb`: notebooks in and out;
//! `lang`: the two languages; `link`: scratch links; `diff`: line diffs; `capture`: loopback
//! packets decoded; `timeline`: a run's threads, waits and deadlocks; `visualise`: a
//! step-through trace and its replay). Pure data, no I/O.

pub mod capture;
pub mod check;
pub mod course;
pub mod diff;
pub mod ipynb;
pub mod lang;
pub mod link;
pub mod timeline;
pub mod visualise;
pub mod wire;
pub mod worker;
