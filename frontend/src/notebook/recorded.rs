//! What a server run recorded, as the page keeps it: its loopback packets, its activity and the
//! cut notices, taken in as they stream and drawn once per animation frame (`Recorded::take`).

use leptos::prelude::*;
use shared::capture::Segment;
use shared::timeline::Activity;
use shared::wire::{Recording, ServerMsg};

/// One run's recordings (signals, so it is `Copy`).
#[derive(Clone, Copy)]
pub struct Recorded {
    /// The run's loopback packets, as they happen.
    pub packets: RwSignal<Vec<Segment>>,
    /// What the program recorded: processes, threads, waits, socket calls.
    pub activity: RwSignal<Vec<Activity>>,
    /// Where each recording was cut: (shown, not shown).
    pub packets_cut: RwSignal<Option<(u32, u64)>>,
    pub activity_cut: RwSignal<Option<(u32, u64)>>,
    /// Received but not drawn yet.
    waiting: StoredValue<Vec<ServerMsg>, LocalStorage>,
}

impl Recorded {
    pub fn new() -> Recorded {
        Recorded {
            packets: RwSignal::new(Vec::new()),
            activity: RwSignal::new(Vec::new()),
            packets_cut: RwSignal::new(None),
            activity_cut: RwSignal::new(None),
            waiting: StoredValue::new_local(Vec::new()),
        }
    }

    /// Forgets the last run's.
    pub fn clear(&self) {
        self.waiting.update_value(Vec::clear);
        self.packets.set(Vec::new());
        self.activity.set(Vec::new());
        self.packets_cut.set(None);
        self.activity_cut.set(None);
    }

    /// Keeps a `Packet`, `Activity` or `RecordingCut`; those of one animation frame are drawn
    /// in one update, so thousands of packets cost one redraw per frame.
    pub fn take(&self, msg: ServerMsg) {
        let first = self.waiting.try_update_value(|r| {
            r.push(msg);
            r.len() == 1
        });
        if first != Some(true) {
            return;
        }
        let me = *self;
        let flush = wasm_bindgen::closure::Closure::once_into_js(move || me.flush());
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(wasm_bindgen::JsCast::unchecked_ref(&flush));
        }
    }

    /// Draws what is waiting now (a run ends: nothing of it may wait for the next frame).
    pub fn flush(&self) {
        let batch = self.waiting.try_update_value(std::mem::take).unwrap_or_default();
        let (mut packets, mut activity) = (Vec::new(), Vec::new());
        for msg in batch {
            match msg {
                ServerMsg::Packet { packet, .. } => packets.push(packet),
                ServerMsg::Activity { event, .. } => activity.push(event),
                ServerMsg::RecordingCut { what: Recording::Packets, shown, not_shown, .. } => self.packets_cut.set(Some((shown, not_shown))),
                ServerMsg::RecordingCut { what: Recording::Activity, shown, not_shown, .. } => self.activity_cut.set(Some((shown, not_shown))),
                _ => {}
            }
        }
        if !packets.is_empty() {
            self.packets.update(|p| p.extend(packets));
        }
        if !activity.is_empty() {
            self.activity.update(|a| a.extend(activity));
        }
    }
}
