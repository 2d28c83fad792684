//! Fan-out of stored messages to live connections, in commit order. One task keeps the order
//! (the store's thread hands it each append's delivery right after the commit, see
//! [`crate::store::AfterCommit`]) and splits a channel message's subscribers into shares; the
//! offers — the costly part: a lock and a task wake-up per subscriber — run on
//! [`FANOUT_WORKERS`] tasks in parallel. A connection always falls in the same share, so each
//! worker's queue keeps its connections' order. [`Fanout`] holds the [`Hub`] it delivers to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::frames::{channel_frame, personal_frames};
use crate::hub::{Hub, Outbound, Shares};
use crate::outbox::Offer;
use crate::store::AfterCommit;
use crate::store::AfterMerge;

type Job = Box<dyn FnOnce() + Send>;

/// Workers offering one message to their share of a channel's subscribers.
const FANOUT_WORKERS: usize = 2;

/// One share of a fan-out: the channel's shares and which one is this worker's, the message,
/// and the tally it reports to.
type Share = (Shares, usize, Outbound, Arc<Tally>);

/// Counts deliveries across workers and answers the publisher when the last share is done.
struct Tally {
    delivered: AtomicUsize,
    pending: AtomicUsize,
    reply: Mutex<Option<oneshot::Sender<usize>>>,
}

impl Tally {
    fn done(&self, delivered: usize) {
        self.delivered.fetch_add(delivered, Ordering::AcqRel);
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let reply = self.reply.lock().ok().and_then(|mut r| r.take());
            if let Some(reply) = reply {
                let _ = reply.send(self.delivered.load(Ordering::Acquire));
            }
        }
    }
}

/// The ordering task's queue, and what its jobs deliver through.
pub struct Fanout {
    jobs: mpsc::UnboundedSender<Job>,
    targets: Arc<Targets>,
}

/// The hub and the workers, shared by the jobs on the ordering task.
struct Targets {
    hub: Arc<Hub>,
    workers: Box<[mpsc::UnboundedSender<Share>]>,
}

impl Fanout {
    pub fn start(hub: Arc<Hub>) -> Self {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                job();
            }
        });
        let workers = (0..FANOUT_WORKERS)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Share>();
                tokio::spawn(async move {
                    while let Some((shares, i, out, tally)) = rx.recv().await {
                        let took = shares[i]
                            .iter()
                            .filter(|o| match o.offer(out.clone()) {
                                Offer::Taken => true,
                                Offer::Full => {
                                    tracing::warn!("outgoing queue full; closing slow consumer");
                                    false
                                }
                                Offer::Closed => false,
                            })
                            .count();
                        tally.done(took);
                    }
                });
                tx
            })
            .collect();
        Self {
            jobs,
            targets: Arc::new(Targets { hub, workers }),
        }
    }

    /// An [`AfterCommit`] that queues `deliver(seq, reply)` on the ordering task,
    /// and the receiver of the delivery count `deliver` sends to `reply`.
    fn after_commit(
        &self,
        deliver: impl FnOnce(u64, oneshot::Sender<usize>) + Send + 'static,
    ) -> (AfterCommit, oneshot::Receiver<usize>) {
        let (tx, rx) = oneshot::channel();
        let jobs = self.jobs.clone();
        let then = Box::new(move |seq| {
            if jobs.send(Box::new(move || deliver(seq, tx))).is_err() {
                tracing::warn!("fan-out task gone; message stored but not pushed live");
            }
            0
        });
        (then, rx)
    }

    /// The [`AfterCommit`] of a personal message: once committed with its seq, to every
    /// live device of `user`. The receiver gets the delivery count.
    pub fn personal(
        &self,
        user: String,
        event: String,
        data: String,
    ) -> (AfterCommit, oneshot::Receiver<usize>) {
        let targets = self.targets.clone();
        self.after_commit(move |seq, reply| {
            let frame = personal_frames(&event, &data, seq);
            let _ = reply.send(targets.hub.deliver_personal(&user, &frame));
        })
    }

    /// The [`AfterCommit`] of a stored channel message: once committed with its seq, to the
    /// channel's subscribers. The receiver gets the delivery count.
    pub fn channel(
        &self,
        channel: String,
        event: String,
        data: String,
        sender: Option<String>,
    ) -> (AfterCommit, oneshot::Receiver<usize>) {
        let targets = self.targets.clone();
        self.after_commit(move |seq, reply| {
            let frame = channel_frame(&channel, &event, &data, Some(seq), sender.as_deref());
            targets.channel(&channel, Some(seq), &frame, reply);
        })
    }

    /// Queues a message of a live-only channel (no seq, nothing stored) behind the stored
    /// ones already queued; the receiver gets the delivery count.
    pub fn live(&self, channel: String, frame: Utf8Bytes) -> oneshot::Receiver<usize> {
        let (tx, rx) = oneshot::channel();
        let targets = self.targets.clone();
        let job: Job = Box::new(move || targets.channel(&channel, None, &frame, tx));
        if self.jobs.send(job).is_err() {
            tracing::warn!("fan-out task gone; live message not pushed");
        }
        rx
    }

    /// An [`AfterMerge`] that queues the moved messages' fan-out to `user`'s live devices on
    /// the ordering task, like any other personal message.
    pub fn after_merge(&self, user: &str) -> AfterMerge {
        let (jobs, targets, user) = (self.jobs.clone(), self.targets.clone(), user.to_string());
        Box::new(move |moved| {
            let frames: Vec<_> = moved
                .iter()
                .map(|m| personal_frames(&m.event, &m.data, m.seq))
                .collect();
            let job: Job = Box::new(move || {
                for frame in &frames {
                    targets.hub.deliver_personal(&user, frame);
                }
            });
            if jobs.send(job).is_err() {
                tracing::warn!("fan-out task gone; merged messages stored but not pushed live");
            }
        })
    }
}

impl Targets {
    /// A channel message's fan-out, on the ordering task: `frame` with `seq` (`None` on
    /// live-only channels) to the subscribers registered now.
    fn channel(
        &self,
        channel: &str,
        seq: Option<u64>,
        frame: &Utf8Bytes,
        reply: oneshot::Sender<usize>,
    ) {
        let targets = self
            .hub
            .channel_targets(channel, seq, frame, self.workers.len());
        Self::dispatch(&self.workers, targets, reply);
    }

    /// Hands a channel message's shares to the workers; the count arrives on `reply`.
    fn dispatch(
        workers: &[mpsc::UnboundedSender<Share>],
        targets: Option<(Outbound, Shares)>,
        reply: oneshot::Sender<usize>,
    ) {
        let Some((out, shares)) = targets else {
            let _ = reply.send(0);
            return;
        };
        let busy: Vec<usize> = (0..shares.len().min(workers.len()))
            .filter(|&i| !shares[i].is_empty())
            .collect();
        if busy.is_empty() {
            let _ = reply.send(0);
            return;
        }
        let tally = Arc::new(Tally {
            delivered: AtomicUsize::new(0),
            pending: AtomicUsize::new(busy.len()),
            reply: Mutex::new(Some(reply)),
        });
        for i in busy {
            let out = if i == 0 { out.clone() } else { out.detached() };
            if let Err(e) = workers[i].send((shares.clone(), i, out, tally.clone())) {
                // Only at shutdown; count the share as done so the publisher is answered.
                e.0.3.done(0);
            }
        }
    }
}
