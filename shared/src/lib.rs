//! Types that cross a boundary in classbook: the course model (backend → page),
//! the run protocol (page ↔ backend WebSocket, page ↔ Python worker). Pure data, no I/O.

pub mod course;
pub mod link;
pub mod trace;
pub mod wire;
pub mod worker;
