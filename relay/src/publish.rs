//! Storing then fanning out a message, in order. The store assigns the seq inside its
//! transaction; right after the commit, in commit order, its thread hands the fan-out to one
//! [`Fanout`] task ([`crate::store::AfterCommit`]), which runs them in that order: every
//! connection sees a stream's seqs in increasing order, nothing is sent before it is durable,
//! and a connection that registered before reading the stream gets every later message either
//! from its replay or live (see [`crate::tunnel`]). No lock is held across the commit, so
//! publishes to one busy channel share fsyncs instead of queueing for them; and the fan-out
//! runs on the runtime, where waking a thousand connection tasks is cheap, not on the store
//! thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use axum::extract::ws::Utf8Bytes;

use crate::frames::{channel_frame, personal_frames};
use crate::hub::{Outbound, Shares};
use crate::outbox::Offer;
use crate::state::App;
use crate::store::StoreError;
use crate::store::channels::ChannelAppend;
use crate::unix_now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// `None` on live-only channels.
    pub seq: Option<u64>,
    pub delivered: usize,
}

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

/// Fans out stored messages in commit order. One task keeps the order and splits a channel
/// message's subscribers into shares; the offers — the costly part: a lock and a task wake-up
/// per subscriber — run on [`FANOUT_WORKERS`] tasks in parallel. A connection always falls in
/// the same share, so each worker's queue keeps its connections' order.
pub struct Fanout {
    jobs: mpsc::UnboundedSender<Job>,
    workers: Arc<[mpsc::UnboundedSender<Share>]>,
}

impl Fanout {
    pub fn start() -> Self {
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
        Self { jobs, workers }
    }

    /// An [`crate::store::AfterCommit`] that queues `deliver(seq, reply)` on the ordering task,
    /// and the receiver of the delivery count `deliver` sends to `reply`.
    fn after_commit(
        &self,
        deliver: impl FnOnce(u64, oneshot::Sender<usize>) + Send + 'static,
    ) -> (crate::store::AfterCommit, oneshot::Receiver<usize>) {
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

    /// An [`crate::store::accounts::AfterMerge`] that queues the moved messages' fan-out to
    /// `user`'s live devices on the ordering task, like any other personal message.
    pub fn after_merge(&self, app: &App, user: &str) -> crate::store::accounts::AfterMerge {
        let (jobs, app, user) = (self.jobs.clone(), app.clone(), user.to_string());
        Box::new(move |moved| {
            let frames: Vec<_> = moved
                .iter()
                .map(|m| personal_frames(&m.event, &m.data, m.seq))
                .collect();
            let job: Job = Box::new(move || {
                for frame in &frames {
                    app.hub.deliver_personal(&user, frame);
                }
            });
            if jobs.send(job).is_err() {
                tracing::warn!("fan-out task gone; merged messages stored but not pushed live");
            }
        })
    }

    /// Queues a channel message's fan-out on the ordering task: `frame` with `seq` (`None` on
    /// live-only channels) to the subscribers registered when its turn comes.
    fn channel(
        app: &App,
        channel: Arc<str>,
        seq: Option<u64>,
        frame: Utf8Bytes,
        reply: oneshot::Sender<usize>,
    ) -> Job {
        let app = app.clone();
        Box::new(move || {
            let workers = &app.fanout.workers;
            let targets = app
                .hub
                .channel_targets(&channel, seq, &frame, workers.len());
            Fanout::dispatch(workers, targets, reply);
        })
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

/// To every live device of the user; stored first.
pub async fn personal(
    app: &App,
    user: &str,
    event: &str,
    data: &str,
) -> Result<Published, StoreError> {
    let arrived = std::time::Instant::now();
    let (hub_app, owner, ev, body) = (
        app.clone(),
        user.to_string(),
        event.to_string(),
        data.to_string(),
    );
    let (fan_out, delivered) = app.fanout.after_commit(move |seq, reply| {
        let frame = personal_frames(&ev, &body, seq);
        let _ = reply.send(hub_app.hub.deliver_personal(&owner, &frame));
    });
    let (seq, _) = app
        .store
        .append_personal_and(user, event, data, unix_now(), fan_out)
        .await?;
    let delivered = delivered.await.unwrap_or(0);
    crate::metrics::published(crate::metrics::Kind::Personal, delivered, arrived);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}

/// To a channel's subscribers; stored first unless the channel is live-only (a kind that
/// never is, or a prefix set to keep no history). Either way the fan-out runs on the ordering
/// task, so every subscriber sees a channel's messages in the same order.
pub async fn channel(
    app: &App,
    channel: &str,
    event: &str,
    data: &str,
    sender: Option<&str>,
) -> Result<Published, StoreError> {
    let arrived = std::time::Instant::now();
    if !app.policy.stored(channel) {
        let frame = channel_frame(channel, event, data, None, sender);
        let (tx, delivered) = oneshot::channel();
        let job = Fanout::channel(app, channel.into(), None, frame, tx);
        if app.fanout.jobs.send(job).is_err() {
            tracing::warn!("fan-out task gone; live message not pushed");
        }
        let delivered = delivered.await.unwrap_or(0);
        crate::metrics::published(crate::metrics::Kind::Channel, delivered, arrived);
        return Ok(Published {
            seq: None,
            delivered,
        });
    }
    let m = ChannelAppend {
        channel: channel.to_string(),
        event: event.to_string(),
        data: data.to_string(),
        user_id: sender.map(str::to_string),
        now: unix_now(),
        retention: app.policy.retention(channel),
    };
    let (hub_app, out) = (app.clone(), m.clone());
    let (fan_out, delivered) = app.fanout.after_commit(move |seq, reply| {
        let frame = channel_frame(
            &out.channel,
            &out.event,
            &out.data,
            Some(seq),
            out.user_id.as_deref(),
        );
        Fanout::channel(
            &hub_app,
            out.channel.as_str().into(),
            Some(seq),
            frame,
            reply,
        )();
    });
    let (seq, _) = app.channels.append_channel(m, fan_out).await?;
    let delivered = delivered.await.unwrap_or(0);
    crate::metrics::published(crate::metrics::Kind::Channel, delivered, arrived);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}
