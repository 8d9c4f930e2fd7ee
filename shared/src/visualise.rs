//! A step-through trace of one browser cell (recorded by frontend/worker/visualise.py, whose
//! header documents the JSON) and `Replay`, the state at any step rebuilt from its diffs.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Steps a trace records before the run is ended (Python Tutor stops at 1,000).
pub const STEP_LIMIT: u32 = 10_000;

/// What a name, an item or an attribute holds: a heap object's id, or a primitive's repr
/// (drawn inline).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Ref(u32),
    Inline(String),
}

impl Value {
    pub fn as_ref(&self) -> Option<u32> {
        match self {
            Value::Ref(id) => Some(*id),
            Value::Inline(_) => None,
        }
    }
}

/// A (name, value) pair: a variable, an attribute, a closure cell.
pub type Named = (String, Value);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Line,
    Call,
    Return,
    Exception,
}

/// One frame of the stack at a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The same for one frame all its life (a recursion's frames differ).
    #[serde(rename = "i")]
    pub id: u32,
    /// The function's name; `<module>` for the globals.
    #[serde(rename = "n")]
    pub name: String,
    /// The qualified name (`Child.hello`, `make_counter.<locals>.up`) when it differs.
    #[serde(rename = "q", default)]
    pub qualname: Option<String>,
    #[serde(rename = "l")]
    pub line: u32,
    /// Its names in the order they were first bound.
    #[serde(rename = "v")]
    pub vars: Vec<Named>,
}

/// One step: where the run is, the stack, and what changed since the step before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(rename = "e")]
    pub event: Event,
    /// The line about to run (a line step), being entered, returning or raising.
    #[serde(rename = "l")]
    pub line: u32,
    /// The stack, outermost first; when deep, only its ends (see `elided`).
    #[serde(rename = "s")]
    pub stack: Vec<Frame>,
    /// Frames left out between the outer and the inner half of a deep stack.
    #[serde(rename = "k", default)]
    pub elided: u32,
    /// Heap objects new or changed at this step (by id).
    #[serde(rename = "h", default, deserialize_with = "by_id")]
    pub heap: BTreeMap<u32, Object>,
    /// Output written since the step before.
    #[serde(rename = "o", default)]
    pub output: Option<String>,
    /// The value returned (a return step not caused by an exception).
    #[serde(rename = "r", default)]
    pub returned: Option<Value>,
    /// "Type: message" of the exception raised (an exception step).
    #[serde(rename = "x", default)]
    pub exception: Option<String>,
}

/// The heap diff's keys are JSON strings ("12"); read as text first, since inside a tagged
/// enum (`WorkerEvent`) serde cannot turn a string key into a number itself.
fn by_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, Object>, D::Error> {
    let raw = BTreeMap::<String, Object>::deserialize(d)?;
    raw.into_iter().map(|(k, v)| k.parse().map(|id| (id, v)).map_err(serde::de::Error::custom)).collect()
}

/// A heap object as drawn: its type's name and what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    #[serde(rename = "t")]
    pub type_name: String,
    #[serde(flatten)]
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
pub enum Kind {
    /// list, tuple, set, frozenset: the first items, and how many more.
    Seq {
        items: Vec<Value>,
        #[serde(default)]
        more: u32,
    },
    Dict {
        items: Vec<(Value, Value)>,
        #[serde(default)]
        more: u32,
    },
    /// A function: its closure cells by free variable name, and what it wraps (`__wrapped__`).
    Function {
        name: String,
        line: u32,
        cells: Vec<Named>,
        #[serde(default)]
        wrapped: Option<Value>,
    },
    /// A closure cell; empty while its name is unbound.
    Cell {
        #[serde(default)]
        value: Option<Value>,
    },
    /// A generator: created, suspended, running or closed; where it resumes and its locals.
    Generator {
        name: String,
        state: String,
        #[serde(default)]
        line: Option<u32>,
        #[serde(default)]
        vars: Vec<Named>,
    },
    /// A bound method: `__self__` and `__func__`.
    Method {
        name: String,
        #[serde(rename = "self")]
        receiver: Value,
        func: Value,
    },
    Class {
        name: String,
        mro: Vec<String>,
        #[serde(default)]
        slots: Option<Vec<String>>,
        attrs: Vec<Named>,
    },
    /// An instance of a class the cell defined.
    Instance {
        class: Value,
        attrs: Vec<Named>,
        #[serde(default)]
        slots: bool,
    },
    /// A built-in iterator and what it iterates over.
    Iterator {
        over: Value,
        #[serde(default)]
        index: Option<u64>,
    },
    Other {
        repr: String,
    },
}

impl Kind {
    /// Every value the object holds, in drawing order.
    pub fn values(&self) -> Vec<&Value> {
        match self {
            Kind::Seq { items, .. } => items.iter().collect(),
            Kind::Dict { items, .. } => items.iter().flat_map(|(k, v)| [k, v]).collect(),
            Kind::Function { cells, wrapped, .. } => cells.iter().map(|(_, v)| v).chain(wrapped.iter()).collect(),
            Kind::Cell { value } => value.iter().collect(),
            Kind::Generator { vars, .. } => vars.iter().map(|(_, v)| v).collect(),
            Kind::Method { receiver, func, .. } => vec![receiver, func],
            Kind::Class { attrs, .. } => attrs.iter().map(|(_, v)| v).collect(),
            Kind::Instance { class, attrs, .. } => std::iter::once(class).chain(attrs.iter().map(|(_, v)| v)).collect(),
            Kind::Iterator { over, .. } => vec![over],
            Kind::Other { .. } => Vec::new(),
        }
    }
}

/// Why the recording ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cut {
    /// The step limit: the run was ended there.
    Limit,
    /// Stop was pressed.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub limit: u32,
    #[serde(default)]
    pub cut: Option<Cut>,
}

/// Steps between two kept copies of the heap's index: moving to any step applies at most this
/// many diffs.
const CHECKPOINT: usize = 64;

/// Where each object's latest encoding is, at some step: object id → step index.
type HeapIndex = HashMap<u32, u32>;

/// A trace ready to be shown at any step.
pub struct Replay {
    pub trace: Trace,
    /// The heap's index after steps 0, CHECKPOINT, 2·CHECKPOINT, …
    checkpoints: Vec<HeapIndex>,
    /// All output, and how much of it was written by the end of each step.
    output: String,
    output_end: Vec<usize>,
}

/// The heap at one step.
pub struct Heap<'a> {
    steps: &'a [Step],
    index: HeapIndex,
}

impl<'a> Heap<'a> {
    pub fn get(&self, id: u32) -> Option<&'a Object> {
        let at = *self.index.get(&id)?;
        self.steps[at as usize].heap.get(&id)
    }
}

impl Replay {
    pub fn new(trace: Trace) -> Replay {
        let mut checkpoints = Vec::with_capacity(trace.steps.len() / CHECKPOINT + 1);
        let mut index = HeapIndex::new();
        let mut output = String::new();
        let mut output_end = Vec::with_capacity(trace.steps.len());
        for (n, step) in trace.steps.iter().enumerate() {
            index.extend(step.heap.keys().map(|&id| (id, n as u32)));
            if n % CHECKPOINT == 0 {
                checkpoints.push(index.clone());
            }
            if let Some(o) = &step.output {
                output.push_str(o);
            }
            output_end.push(output.len());
        }
        Replay { trace, checkpoints, output, output_end }
    }

    pub fn len(&self) -> usize {
        self.trace.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trace.steps.is_empty()
    }

    pub fn step(&self, n: usize) -> &Step {
        &self.trace.steps[n]
    }

    /// The heap as it was at step `n` (after its changes).
    pub fn heap(&self, n: usize) -> Heap<'_> {
        let base = n / CHECKPOINT;
        let mut index = self.checkpoints[base].clone();
        for (i, step) in self.trace.steps.iter().enumerate().take(n + 1).skip(base * CHECKPOINT + 1) {
            index.extend(step.heap.keys().map(|&id| (id, i as u32)));
        }
        Heap { steps: &self.trace.steps, index }
    }

    /// What the cell had written by the end of step `n`.
    pub fn output(&self, n: usize) -> &str {
        &self.output[..self.output_end[n]]
    }

    /// The first step after `from` that is at `line`.
    pub fn next_at_line(&self, from: usize, line: u32) -> Option<usize> {
        self.trace.steps.iter().enumerate().skip(from + 1).find(|(_, s)| s.line == line).map(|(n, _)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded by frontend/worker/visualise.py from:  a = [1]  /  b = a  /  b.append(2)
    const ALIAS: &str = r#"{"steps":[
        {"e":"line","l":1,"s":[{"i":1,"n":"<module>","l":1,"v":[]}]},
        {"e":"line","l":2,"s":[{"i":1,"n":"<module>","l":2,"v":[["a",1]]}],"h":{"1":{"t":"list","k":"seq","items":["1"]}}},
        {"e":"line","l":3,"s":[{"i":1,"n":"<module>","l":3,"v":[["a",1],["b",1]]}],"o":"hi\n"},
        {"e":"return","l":3,"s":[{"i":1,"n":"<module>","l":3,"v":[["a",1],["b",1]]}],"h":{"1":{"t":"list","k":"seq","items":["1","2"]}},"r":"None"}
    ],"limit":10000,"cut":null}"#;

    fn items(heap: &Heap, id: u32) -> Vec<Value> {
        match &heap.get(id).expect("object").kind {
            Kind::Seq { items, .. } => items.clone(),
            k => panic!("not a sequence: {k:?}"),
        }
    }

    #[test]
    fn the_heap_at_a_step_is_the_sum_of_the_diffs_up_to_it() {
        let replay = Replay::new(serde_json::from_str(ALIAS).unwrap());
        assert_eq!(replay.len(), 4);
        assert!(replay.heap(0).get(1).is_none(), "the list does not exist before line 1 ran");
        assert_eq!(items(&replay.heap(2), 1), [Value::Inline("1".into())]);
        assert_eq!(items(&replay.heap(3), 1), [Value::Inline("1".into()), Value::Inline("2".into())]);
        let vars = &replay.step(2).stack[0].vars;
        assert_eq!(vars[0].1, vars[1].1, "two names, one object");
        assert_eq!(replay.step(3).returned, Some(Value::Inline("None".into())));
    }

    #[test]
    fn a_trace_reads_from_the_worker_event_that_carries_it() {
        let json = format!(r#"{{"kind":"Visual","run_id":1,"trace":{ALIAS}}}"#);
        let ev: crate::worker::WorkerEvent = serde_json::from_str(&json).unwrap();
        let crate::worker::WorkerEvent::Visual { run_id: 1, trace: Some(trace) } = ev else { panic!("{ev:?}") };
        assert_eq!(trace.steps[1].heap.keys().collect::<Vec<_>>(), [&1]);
    }

    #[test]
    fn output_is_what_was_written_by_each_step() {
        let replay = Replay::new(serde_json::from_str(ALIAS).unwrap());
        assert_eq!(replay.output(1), "");
        assert_eq!(replay.output(2), "hi\n");
        assert_eq!(replay.output(3), "hi\n");
    }

    #[test]
    fn run_to_line_finds_the_next_step_at_that_line() {
        let replay = Replay::new(serde_json::from_str(ALIAS).unwrap());
        assert_eq!(replay.next_at_line(0, 3), Some(2));
        assert_eq!(replay.next_at_line(2, 3), Some(3));
        assert_eq!(replay.next_at_line(3, 3), None);
    }

    #[test]
    fn steps_past_a_checkpoint_apply_only_the_diffs_after_it() {
        // An object changed at every step: at each step the heap holds that step's version.
        let steps: Vec<Step> = (0..200u32)
            .map(|n| Step {
                event: Event::Line,
                line: n,
                stack: vec![],
                elided: 0,
                heap: BTreeMap::from([(7, Object { type_name: "cell".into(), kind: Kind::Cell { value: Some(Value::Inline(n.to_string())) } })]),
                output: None,
                returned: None,
                exception: None,
            })
            .collect();
        let replay = Replay::new(Trace { steps, limit: STEP_LIMIT, cut: None });
        for n in [0, 1, 63, 64, 65, 130, 199] {
            assert_eq!(replay.heap(n).get(7).unwrap().kind, Kind::Cell { value: Some(Value::Inline(n.to_string())) });
        }
    }

    #[test]
    fn every_kind_of_object_reads_from_its_json() {
        let json = r#"{"1":{"t":"function","k":"function","name":"f","line":1,"cells":[["n",2]],"wrapped":3},
            "2":{"t":"cell","k":"cell"},
            "4":{"t":"generator","k":"generator","name":"g","state":"suspended","line":3,"vars":[["n","1"]]},
            "5":{"t":"method","k":"method","name":"A.f","self":6,"func":1},
            "6":{"t":"A","k":"instance","class":7,"attrs":[["x","1"]],"slots":true},
            "7":{"t":"type","k":"class","name":"A","mro":["A","object"],"slots":["x"],"attrs":[]},
            "8":{"t":"list_iterator","k":"iterator","over":9,"index":0},
            "9":{"t":"dict","k":"dict","items":[["'a'",1]],"more":3},
            "10":{"t":"module","k":"other","repr":"<module 'math' (built-in)>"}}"#;
        let heap: BTreeMap<u32, Object> = serde_json::from_str(json).unwrap();
        assert_eq!(heap.len(), 9);
        assert_eq!(heap[&1].kind.values(), [&Value::Ref(2), &Value::Ref(3)]);
        assert!(matches!(heap[&2].kind, Kind::Cell { value: None }));
        assert!(matches!(&heap[&5].kind, Kind::Method { receiver: Value::Ref(6), .. }));
        assert!(matches!(&heap[&9].kind, Kind::Dict { more: 3, .. }));
    }
}
