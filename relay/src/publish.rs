//! Storing then fanning out a message, in order. The store assigns the seq inside its
//! transaction; right after the commit, in commit order, its thread hands the fan-out to one
//! [`Fanout`] task ([`crate::store::AfterCommit`]), which runs them in that order: every
//! connection sees a stream's seqs in increasing order, nothing is sent before it is durable,
//! and a connection that registered before reading the stream gets every later message either
//! from its replay or live (see [`crate::tunnel`]). No lock is held across the commit, so
//! publishes to one busy channel share fsyncs instead of queueing for them; and the fan-out
//! runs on the runtime, where waking a thousand connection tasks is cheap, not on the store
//! thread.

use cometa_protocol::native::ChannelKind;
use tokio::sync::{mpsc, oneshot};

use crate::presence::{channel_frame, personal_frames};
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

/// The one task that fans out stored messages, in the order they were committed.
pub struct Fanout {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Fanout {
    pub fn start() -> Self {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                job();
            }
        });
        Self { jobs }
    }

    /// An [`crate::store::AfterCommit`] that queues `deliver(seq)` on the fan-out task, and
    /// the receiver of its delivery count.
    fn after_commit(
        &self,
        deliver: impl FnOnce(u64) -> usize + Send + 'static,
    ) -> (crate::store::AfterCommit, oneshot::Receiver<usize>) {
        let (tx, rx) = oneshot::channel();
        let jobs = self.jobs.clone();
        let then = Box::new(move |seq| {
            let job: Job = Box::new(move || {
                let _ = tx.send(deliver(seq));
            });
            if jobs.send(job).is_err() {
                tracing::warn!("fan-out task gone; message stored but not pushed live");
            }
            0
        });
        (then, rx)
    }
}

/// To every live device of the user; stored first.
pub async fn personal(
    app: &App,
    user: &str,
    event: &str,
    data: &str,
) -> Result<Published, StoreError> {
    let (hub_app, owner, ev, body) = (
        app.clone(),
        user.to_string(),
        event.to_string(),
        data.to_string(),
    );
    let (fan_out, delivered) = app.fanout.after_commit(move |seq| {
        let frame = personal_frames(&ev, &body, seq);
        hub_app.hub.deliver_personal(&owner, &frame)
    });
    let (seq, _) = app
        .store
        .append_personal_and(user, event, data, unix_now(), fan_out)
        .await?;
    let delivered = delivered.await.unwrap_or(0);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}

/// To a channel's subscribers; stored first unless the channel is live-only.
pub async fn channel(
    app: &App,
    channel: &str,
    event: &str,
    data: &str,
    sender: Option<&str>,
) -> Result<Published, StoreError> {
    if !ChannelKind::of(channel).is_stored() {
        let frame = channel_frame(channel, event, data, None, sender);
        return Ok(Published {
            seq: None,
            delivered: app.hub.deliver_channel(channel, None, &frame),
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
    let (fan_out, delivered) = app.fanout.after_commit(move |seq| {
        let frame = channel_frame(
            &out.channel,
            &out.event,
            &out.data,
            Some(seq),
            out.user_id.as_deref(),
        );
        hub_app.hub.deliver_channel(&out.channel, Some(seq), &frame)
    });
    let (seq, _) = app.channels.append_channel(m, fan_out).await?;
    let delivered = delivered.await.unwrap_or(0);
    Ok(Published {
        seq: Some(seq),
        delivered,
    })
}
