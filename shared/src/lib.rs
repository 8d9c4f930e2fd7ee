//! Types that cross a boundary in classbook: the course model (backend → page),
//! the run protocol (page ↔ backend WebSocket, page ↔ Python worker), and pure conversions
//! (`ipynb`: notebooks in and out; `link`: scratch links; `diff`: line diffs; `visualise`: a
//! step-through trace and its replay). Pure data, no I/O.

pub mod course;
pub mod diff;
pub mod ipynb;
pub mod link;
pub mod trace;
pub mod visualise;
pub mod wire;
pub mod worker;
