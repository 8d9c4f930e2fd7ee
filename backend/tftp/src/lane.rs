//! Where a transfer runs: as a task of the runtime, where waiting for a peer holds no thread,
//! or on a lane, one of a few threads (one per CPU) for transfers whose peer answers fast.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, Notify};

/// A transfer, driven by a task of the runtime or by a lane, whichever it is on.
type Transfer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Ends a transfer from outside: its socket checks `is_set` before and while it waits.
#[derive(Default)]
pub(crate) struct Stop {
    set: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Resolves once the transfer is to stop.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }

    fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// A started transfer's result; dropping it before the result came stops the transfer.
pub(crate) struct Running<T> {
    done: oneshot::Receiver<T>,
    stop: Arc<Stop>,
    finished: bool,
}

impl<T> Future for Running<T> {
    /// `None` when the transfer ended without sending a result.
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let result = std::task::ready!(Pin::new(&mut self.done).poll(cx));
        self.finished = true;
        Poll::Ready(result.ok())
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.stop.set();
        }
    }
}

/// Starts a transfer in the runtime (call from within one); it moves to a lane by itself when
/// its peer proves fast. `transfer` gets the stop signal to hand to its socket and where to send
/// its result (it may go on after sending it, e.g. to dally).
pub(crate) fn run<T, F>(transfer: impl FnOnce(Arc<Stop>, oneshot::Sender<T>) -> F) -> Running<T>
where
    T: Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(Stop::default());
    let (done, result) = oneshot::channel();
    tokio::spawn(OnRuntime(Some(Box::pin(transfer(stop.clone(), done)))));
    Running { done: result, stop, finished: false }
}

fn lanes() -> usize {
    static LANES: OnceLock<usize> = OnceLock::new();
    *LANES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Lanes not running a transfer now.
fn free() -> &'static AtomicUsize {
    static FREE: OnceLock<AtomicUsize> = OnceLock::new();
    FREE.get_or_init(|| AtomicUsize::new(lanes()))
}

/// The right to run one transfer on a lane; gives the lane back when dropped.
pub(crate) struct Token(());

impl Token {
    pub fn take() -> Option<Token> {
        free().fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).ok().map(|_| Token(()))
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        free().fetch_add(1, Ordering::AcqRel);
    }
}

enum Move {
    ToLane(Token),
    ToRuntime,
}

thread_local! {
    /// Whether this thread is a lane (set for the whole life of a lane thread).
    static ON_LANE: Cell<bool> = const { Cell::new(false) };
    /// A move the transfer being polled asked for before returning `Pending`.
    static MOVE: RefCell<Option<Move>> = const { RefCell::new(None) };
}

pub(crate) fn on_lane() -> bool {
    ON_LANE.with(Cell::get)
}

/// Moves the polling transfer onto a lane (`token`): pending once, so that its task hands it
/// over; resumes on the lane. A transfer not polled by this module's task stays where it is.
pub(crate) async fn to_lane(token: Token) {
    let mut asked = Some(token);
    std::future::poll_fn(move |cx| match asked.take() {
        Some(token) => {
            MOVE.with(|m| *m.borrow_mut() = Some(Move::ToLane(token)));
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        None => {
            // Still here (nobody took the move): give the lane back.
            MOVE.with(|m| m.borrow_mut().take());
            Poll::Ready(())
        }
    })
    .await
}

/// Moves the polling transfer off its lane into the runtime: pending once on the lane, which
/// then spawns it as a task; resumes there.
pub(crate) async fn to_runtime() {
    let mut asked = false;
    std::future::poll_fn(move |cx| {
        if asked {
            return Poll::Ready(());
        }
        asked = true;
        MOVE.with(|m| *m.borrow_mut() = Some(Move::ToRuntime));
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// A transfer as a task of the runtime; ends (leaving the transfer to a lane) when it moves.
struct OnRuntime(Option<Transfer>);

impl Future for OnRuntime {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(transfer) = self.0.as_mut() else { return Poll::Ready(()) };
        if transfer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        match MOVE.with(|m| m.borrow_mut().take()) {
            Some(Move::ToLane(token)) => {
                let transfer = self.0.take().expect("checked above");
                hand_to_lane(Job { token, transfer, runtime: Handle::current() });
                Poll::Ready(())
            }
            Some(Move::ToRuntime) | None => Poll::Pending,
        }
    }
}

/// A transfer on its way to a lane, with the lane it holds and its runtime.
struct Job {
    token: Token,
    transfer: Transfer,
    runtime: Handle,
}

/// The lane threads' queue, started on first use: as many threads as lanes, so a job whose
/// token was free finds an idle thread.
fn hand_to_lane(job: Job) {
    static QUEUE: OnceLock<SyncSender<Job>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (sender, receiver) = mpsc::sync_channel::<Job>(lanes());
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..lanes() {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new().name(format!("tftp-lane-{i}")).spawn(move || lane(&receiver));
            if let Err(e) = spawned {
                // The remaining lanes take the jobs; with none, transfers stay tasks (see below).
                eprintln!("classbook-tftp: cannot start a lane thread: {e}");
            }
        }
        sender
    });
    if let Err(mpsc::SendError(job)) = queue.send(job) {
        // No lane thread at all: the transfer goes on as a task.
        let Job { transfer, runtime, .. } = job;
        runtime.spawn(OnRuntime(Some(transfer)));
    }
}

/// A lane thread: polls each transfer it is handed until it ends or asks to leave.
fn lane(queue: &Mutex<Receiver<Job>>) {
    ON_LANE.with(|l| l.set(true));
    let waker = Waker::from(Arc::new(Ignore));
    let mut cx = Context::from_waker(&waker);
    loop {
        let next = queue.lock().expect("lane queue poisoned").recv();
        let Ok(Job { token, mut transfer, runtime }) = next else { return };
        let entered = runtime.enter();
        // On a lane a transfer waits by blocking, so a poll runs until it ends or moves. A
        // transfer that panics ends (as a task's would); the lane goes on.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| transfer.as_mut().poll(&mut cx)));
        if matches!(polled, Ok(Poll::Pending)) {
            // Whatever the transfer asked, it waits in the runtime from now on; polled there at
            // once, it registers that task's waker for whatever it waits for.
            MOVE.with(|m| m.borrow_mut().take());
            runtime.spawn(OnRuntime(Some(transfer)));
        }
        drop(entered);
        drop(token);
    }
}

/// A lane's waker: a transfer pending on a lane moves to the runtime, so nothing waits for it.
struct Ignore;

impl Wake for Ignore {
    fn wake(self: Arc<Self>) {}
}
