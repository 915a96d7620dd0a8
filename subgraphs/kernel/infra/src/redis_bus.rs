//! The Redis Streams adapter of the `EventBus` port, for deployments that run several
//! replicas of every service.
//!
//! - **Streams.** Every event family (`ecommerce.<context>.<aggregate>`) is split into
//!   `shards` streams, `<prefix>:<family>:<shard>`. An event goes to the shard of its
//!   partition key, so one key's events stay in one stream, in the order the relay
//!   published them.
//! - **Shared consumers** ([`Delivery::Shared`]) are a consumer group per consumer name
//!   on each stream of the families they consume. One replica at a time reads a
//!   (group, stream): it holds a lease, a Redis key with a time to live that it renews
//!   while it works. The live replicas of a group divide its streams among themselves
//!   by rendezvous hashing; a replica that stops renewing drops out, and its streams
//!   pass to the others when its lease lapses. A key's events are therefore handled
//!   by one replica at a time, in order, while the shards spread the work over the replicas.
//! - **Acknowledgement** (`XACK`) comes after the handler returned, that is after its
//!   transaction (and inbox row) committed. A crash in between redelivers the entry and
//!   the inbox skips it. The entries of one read go to the handler together
//!   (`handle_all`, one transaction for an inbox consumer) and are acknowledged
//!   together; after a failure the rest go one at a time.
//! - **Reclaiming.** A replica that takes a stream over first claims what the previous
//!   holder left pending (`XAUTOCLAIM`) and handles it before anything newer.
//! - **Dead letters.** An entry whose handler failed `max_deliveries` times moves to
//!   `<prefix>:dead-letter:<group>` with its error and is acknowledged, so it no longer
//!   holds back its shard.
//! - **Every-replica consumers** ([`Delivery::EveryReplica`], the live feeds of GraphQL
//!   subscriptions) read every stream without a group from the moment they start.
//!
//! Streams are trimmed to about `max_len` entries each; until then they are the
//! retained event log that a new consumer group starts from.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kernel::EventEnvelope;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, RedisResult};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::{BusError, Delivery, EventBus, Subscription};

/// How the Redis bus is laid out and how patient it is.
#[derive(Debug, Clone)]
pub struct RedisBusSettings {
    pub url: String,
    /// Prefix of every key, so several deployments (or tests) share one Redis.
    pub prefix: String,
    /// Streams per event family; fixed for a deployment's life, since it decides
    /// where a partition key's events go.
    pub shards: u32,
    /// Failed deliveries of one entry before it goes to the dead-letter stream.
    pub max_deliveries: u32,
    /// How long a replica's hold on a stream lasts without renewal.
    pub lease: Duration,
    /// Approximate entries kept per stream.
    pub max_len: usize,
    /// Entries read at once.
    pub batch: usize,
}

impl RedisBusSettings {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: "events".to_owned(),
            shards: 8,
            max_deliveries: 5,
            lease: Duration::from_secs(10),
            max_len: 1_000_000,
            batch: 100,
        }
    }

    /// The stream of an event.
    pub fn stream_of(&self, event: &EventEnvelope) -> String {
        let shard = fnv1a(event.partition_key.as_bytes()) % u64::from(self.shards.max(1));
        self.stream(event.event_type.family(), shard)
    }

    fn stream(&self, family: &str, shard: u64) -> String {
        format!("{}:{family}:{shard}", self.prefix)
    }

    /// Every stream of the families of `event_types`.
    fn streams_of(&self, event_types: &[String]) -> Result<Vec<String>, BusError> {
        let mut families = BTreeSet::new();
        for name in event_types {
            let event_type = kernel::EventType::parse(name).map_err(|err| anyhow::anyhow!("{err}"))?;
            families.insert(event_type.family().to_owned());
        }
        Ok(families
            .iter()
            .flat_map(|family| (0..u64::from(self.shards.max(1))).map(move |shard| (family.clone(), shard)))
            .map(|(family, shard)| self.stream(&family, shard))
            .collect())
    }

    /// The dead-letter stream of a consumer group.
    pub fn dead_letters(&self, group: &str) -> String {
        format!("{}:dead-letter:{group}", self.prefix)
    }

    fn lease_key(&self, group: &str, stream: &str) -> String {
        format!("{}:lease:{group}:{stream}", self.prefix)
    }

    fn members_key(&self, group: &str) -> String {
        format!("{}:members:{group}", self.prefix)
    }

    fn failures_key(&self, group: &str) -> String {
        format!("{}:failures:{group}", self.prefix)
    }
}

/// FNV-1a: a hash that every process and version computes alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Publishes to Redis Streams and runs this process's consumers.
pub struct RedisStreamsBus {
    settings: Arc<RedisBusSettings>,
    client: redis::Client,
    publisher: ConnectionManager,
    /// This replica's name in the consumer groups.
    consumer_name: String,
    shutdown: CancellationToken,
    readers: Mutex<Vec<JoinHandle<()>>>,
}

impl RedisStreamsBus {
    /// Connects; consumers start as they subscribe.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect(settings: RedisBusSettings) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(settings.url.as_str())?;
        let publisher = ConnectionManager::new(client.clone()).await?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned());
        Ok(Arc::new(Self {
            settings: Arc::new(settings),
            client,
            publisher,
            consumer_name: format!("{host}-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            shutdown: CancellationToken::new(),
            readers: Mutex::new(Vec::new()),
        }))
    }

    /// Stops this replica's consumers (what they were handling finishes first) and
    /// gives up its leases, so another replica takes over at once.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let readers: Vec<JoinHandle<()>> = std::mem::take(&mut *self.readers.lock().expect("not poisoned"));
        for reader in readers {
            let _ = reader.await;
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, BusError> {
        // Blocking reads get a connection of their own, so they hold up nobody else.
        // The client's default answer timeout (500 ms) is shorter than a blocking read
        // (up to 1 s), and connecting may take more than its default 1 s on a busy
        // machine: both are raised for these connections.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(anyhow::Error::from)?)
    }
}

#[async_trait]
impl EventBus for RedisStreamsBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        self.publish_all(std::slice::from_ref(event))
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Sends a relay pass's events in one pipeline: one round trip however many there
    /// are. If the pipeline fails, every event of it counts as failed and is published
    /// again with its key's later events (at least once; consumers skip repeats).
    async fn publish_all(&self, events: &[EventEnvelope]) -> Vec<Result<(), BusError>> {
        let mut pipe = redis::pipe();
        for event in events {
            let body = match serde_json::to_string(event) {
                Ok(body) => body,
                Err(err) => return events.iter().map(|_| Err(anyhow::anyhow!("{err}").into())).collect(),
            };
            pipe.cmd("XADD")
                .arg(self.settings.stream_of(event))
                .arg("MAXLEN")
                .arg("~")
                .arg(self.settings.max_len)
                .arg("*")
                .arg("event_type")
                .arg(event.event_type.as_str())
                .arg("envelope")
                .arg(body)
                .ignore();
        }
        let mut conn = self.publisher.clone();
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => events.iter().map(|_| Ok(())).collect(),
            Err(err) => {
                let err = err.to_string();
                events.iter().map(|_| Err(anyhow::anyhow!("{err}").into())).collect()
            }
        }
    }

    async fn ready(&self) -> bool {
        let mut conn = self.publisher.clone();
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(Duration::from_secs(2), ping.query_async::<String>(&mut conn)).await;
        matches!(answer, Ok(Ok(_)))
    }

    async fn shutdown(&self) {
        RedisStreamsBus::shutdown(self).await;
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<(), BusError> {
        let streams = self.settings.streams_of(&subscription.event_types)?;
        let mut readers = Vec::new();
        match subscription.delivery {
            Delivery::Shared => {
                let mut conn = self.connection().await?;
                for stream in streams {
                    create_group(&mut conn, &stream, &subscription.consumer).await?;
                    let reader = GroupReader {
                        settings: self.settings.clone(),
                        conn: self.connection().await?,
                        stream,
                        me: self.consumer_name.clone(),
                        subscription: subscription.clone(),
                        holding: false,
                        renewed: Instant::now(),
                        may_hold_pending: true,
                    };
                    readers.push(tokio::spawn(reader.run(self.shutdown.clone())));
                }
            }
            Delivery::EveryReplica => {
                let mut conn = self.connection().await?;
                let mut positions = Vec::new();
                for stream in streams {
                    let position = last_id(&mut conn, &stream).await.map_err(anyhow::Error::from)?;
                    positions.push((stream, position));
                }
                let reader = FanOutReader {
                    conn,
                    positions,
                    subscription,
                    batch: self.settings.batch,
                };
                readers.push(tokio::spawn(reader.run(self.shutdown.clone())));
            }
        }
        self.readers.lock().expect("not poisoned").extend(readers);
        Ok(())
    }
}

/// Creates `group` on `stream` (and the stream) from its first entry, unless it exists.
async fn create_group(conn: &mut MultiplexedConnection, stream: &str, group: &str) -> Result<(), BusError> {
    let created: RedisResult<()> = conn.xgroup_create_mkstream(stream, group, "0").await;
    match created {
        Ok(()) => Ok(()),
        Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
        Err(err) => Err(anyhow::Error::from(err).into()),
    }
}

/// The id of the newest entry of `stream`, or `0-0`.
async fn last_id(conn: &mut MultiplexedConnection, stream: &str) -> RedisResult<String> {
    let newest: redis::streams::StreamRangeReply = conn.xrevrange_count(stream, "+", "-", 1).await?;
    Ok(newest
        .ids
        .first()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone()))
}

/// Records `ARGV[1]` as a live member of the group (`KEYS[2]`, a sorted set of last
/// heartbeats) and takes or renews the lease `KEYS[1]` on stream `ARGV[3]` for it, for
/// `ARGV[2]` ms, when it is the stream's owner: of the live members, the one whose
/// hash with the stream name is highest (rendezvous hashing), so the streams spread
/// over the replicas and move only when one comes or goes. A holder that is no longer
/// the owner gives the lease up. Returns 1 when the caller holds the lease.
const LEASE: &str = r"
local me, ttl, stream = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[2], now, me)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[2], ttl * 10)
local owner, highest = me, ''
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local hash = redis.sha1hex(member .. '|' .. stream)
  if hash > highest then owner, highest = member, hash end
end
local holder = redis.call('GET', KEYS[1])
if owner ~= me then
  if holder == me then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder == me or not holder then
  redis.call('SET', KEYS[1], me, 'PX', ttl)
  return 1
end
return 0
";

/// Gives a lease up, if `holder` still has it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// One consumer group's reader of one stream, in one replica.
struct GroupReader {
    settings: Arc<RedisBusSettings>,
    conn: MultiplexedConnection,
    stream: String,
    me: String,
    subscription: Subscription,
    /// Whether this replica held the lease at the last look.
    holding: bool,
    renewed: Instant,
    /// Whether entries this replica read may still be unacknowledged (it took the
    /// stream over, a handler failed, or it stopped midway): then its next step reads
    /// them again before anything new. Otherwise that read is skipped.
    may_hold_pending: bool,
}

/// What became of one entry.
enum Handled {
    Acknowledged,
    /// The handler failed this often; the entry stays pending and is tried again.
    Failed {
        failures: u32,
    },
}

impl GroupReader {
    async fn run(mut self, shutdown: CancellationToken) {
        // A replica that does not hold the stream looks again soon: when the holder
        // hands it over (another replica joined) or dies, the wait is the new owner's.
        let idle = (self.settings.lease / 20).max(Duration::from_millis(50));
        while !shutdown.is_cancelled() {
            let pause = match self.step(&shutdown).await {
                Ok(true) => None,
                Ok(false) => Some(idle),
                Err(err) => {
                    tracing::warn!(stream = %self.stream, consumer = %self.subscription.consumer, error = %err, "event stream reader failed; retrying");
                    self.holding = false;
                    Some(Duration::from_millis(500))
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        if self.holding {
            let key = self.settings.lease_key(&self.subscription.consumer, &self.stream);
            let _: RedisResult<i64> = redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(key)
                .arg(&self.me)
                .query_async(&mut self.conn)
                .await;
        }
    }

    /// One read and what it brought. False when another replica holds the stream.
    ///
    /// The lease is renewed when it is a tenth of its time old (or not held): under
    /// load a step per event would otherwise run the lease script for every event.
    async fn step(&mut self, shutdown: &CancellationToken) -> RedisResult<bool> {
        if (!self.holding || self.renewed.elapsed() >= self.settings.lease / 10) && !self.renew_lease().await? {
            return Ok(false);
        }
        let group = self.subscription.consumer.clone();
        // What this replica already received but did not acknowledge comes first, then
        // new entries.
        let mut entries = Vec::new();
        if self.may_hold_pending {
            entries = self.read("0", None).await?;
            self.may_hold_pending = !entries.is_empty();
        }
        if entries.is_empty() {
            let block = Duration::from_secs(1).min(self.settings.lease / 3);
            entries = self.read(">", Some(block)).await?;
        }
        if entries.is_empty() {
            return Ok(true);
        }
        // Until every entry of this read is acknowledged, some may stay pending.
        self.may_hold_pending = true;
        if self.renewed.elapsed() > self.settings.lease / 3 && !self.renew_lease().await? {
            return Ok(false);
        }
        let done = self.handle_together(&group, &entries).await?;
        for entry in &entries[done..] {
            if shutdown.is_cancelled() {
                return Ok(true);
            }
            if self.renewed.elapsed() > self.settings.lease / 3 && !self.renew_lease().await? {
                return Ok(false);
            }
            match self.handle(&group, entry).await? {
                Handled::Acknowledged => {}
                Handled::Failed { failures } => {
                    // Later entries of this stream wait: they may share the key.
                    let backoff = Duration::from_millis(50 * u64::from(failures.clamp(1, 20)));
                    tokio::time::sleep(backoff).await;
                    return Ok(true);
                }
            }
        }
        self.may_hold_pending = false;
        Ok(true)
    }

    /// Takes or renews the lease. On taking it, claims what the group left pending
    /// with other (dead or stalled) replicas, so it is handled before anything newer.
    async fn renew_lease(&mut self) -> RedisResult<bool> {
        let key = self.settings.lease_key(&self.subscription.consumer, &self.stream);
        let members = self.settings.members_key(&self.subscription.consumer);
        // By its hash (EVALSHA): Redis keeps the script, so it is not sent every time.
        static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LEASE));
        let held: i64 = SCRIPT
            .key(key)
            .key(members)
            .arg(&self.me)
            .arg(u64::try_from(self.settings.lease.as_millis()).unwrap_or(u64::MAX))
            .arg(&self.stream)
            .invoke_async(&mut self.conn)
            .await?;
        let held = held == 1;
        if held && !self.holding {
            self.claim_pending().await?;
            self.may_hold_pending = true;
        }
        self.holding = held;
        self.renewed = Instant::now();
        Ok(held)
    }

    async fn claim_pending(&mut self) -> RedisResult<()> {
        let mut start = "0-0".to_owned();
        loop {
            let reply: redis::streams::StreamAutoClaimReply = self
                .conn
                .xautoclaim_options(
                    &self.stream,
                    &self.subscription.consumer,
                    &self.me,
                    0,
                    &start,
                    StreamAutoClaimOptions::default()
                        .count(self.settings.batch)
                        .with_justid(),
                )
                .await?;
            if !reply.claimed.is_empty() {
                tracing::info!(stream = %self.stream, consumer = %self.subscription.consumer, claimed = reply.claimed.len(), "took over entries another replica left pending");
            }
            if reply.next_stream_id == "0-0" {
                return Ok(());
            }
            start = reply.next_stream_id;
        }
    }

    async fn read(&mut self, from: &str, block: Option<Duration>) -> RedisResult<Vec<StreamId>> {
        let mut options = StreamReadOptions::default()
            .group(&self.subscription.consumer, &self.me)
            .count(self.settings.batch);
        if let Some(block) = block {
            options = options.block(usize::try_from(block.as_millis()).unwrap_or(1000));
        }
        let reply: Option<StreamReadReply> = self
            .conn
            .xread_options(&[self.stream.as_str()], &[from], &options)
            .await?;
        Ok(reply
            .map(|reply| reply.keys.into_iter().flat_map(|key| key.ids).collect())
            .unwrap_or_default())
    }

    /// Hands the readable entries at the head of `entries` to the handler in one call
    /// (`handle_all`) and acknowledges them together. Returns how many entries, from
    /// the first, are done: after a failure, the rest go one at a time to [`Self::handle`],
    /// which counts failures and gives up on an entry in the end.
    async fn handle_together(&mut self, group: &str, entries: &[StreamId]) -> RedisResult<usize> {
        // Most reads at low load bring one wanted entry: those go to `handle` without
        // being parsed here too. The entry's `event_type` field is enough to tell; where
        // it is missing, the entries go one at a time, which is always safe.
        let wants = |entry: &StreamId| {
            entry
                .get::<String>("event_type")
                .is_some_and(|event_type| self.subscription.event_types.contains(&event_type))
        };
        if entries.iter().filter(|entry| wants(entry)).count() < 2 {
            return Ok(0);
        }
        let mut head: Vec<(&StreamId, EventEnvelope)> = Vec::new();
        for entry in entries {
            match entry
                .get::<String>("envelope")
                .and_then(|body| serde_json::from_str::<EventEnvelope>(&body).ok())
            {
                Some(envelope) => head.push((entry, envelope)),
                None => break,
            }
        }
        // The envelope decides, as in `handle`: an entry is acknowledged unhandled only
        // when its event is one this consumer does not want.
        let wanted: Vec<usize> = (0..head.len())
            .filter(|&i| {
                let event_type = head[i].1.event_type.as_str();
                self.subscription.event_types.iter().any(|t| t == event_type)
            })
            .collect();
        if wanted.len() < 2 {
            return Ok(0);
        }
        let events: Vec<&EventEnvelope> = wanted.iter().map(|&i| &head[i].1).collect();
        let done = match self.subscription.handler.handle_all(&events).await {
            Ok(()) => head.len(),
            Err(failed) => {
                tracing::warn!(
                    stream = %self.stream, consumer = group, events = events.len(), handled = failed.handled,
                    error = %failed.source, "event batch failed; handing the rest over one at a time"
                );
                wanted.get(failed.handled).copied().unwrap_or(0)
            }
        };
        if done > 0 {
            let ids: Vec<&str> = head[..done].iter().map(|(entry, _)| entry.id.as_str()).collect();
            redis::pipe()
                .atomic()
                .xack(&self.stream, group, &ids)
                .ignore()
                .hdel(self.settings.failures_key(group), &ids)
                .ignore()
                .query_async::<()>(&mut self.conn)
                .await?;
        }
        Ok(done)
    }

    async fn handle(&mut self, group: &str, entry: &StreamId) -> RedisResult<Handled> {
        let envelope = entry
            .get::<String>("envelope")
            .ok_or_else(|| "entry has no envelope".to_owned())
            .and_then(|body| serde_json::from_str::<EventEnvelope>(&body).map_err(|err| err.to_string()));
        let envelope = match envelope {
            Ok(envelope) => envelope,
            Err(err) => {
                self.dead_letter(group, entry, &format!("unreadable entry: {err}"))
                    .await?;
                return Ok(Handled::Acknowledged);
            }
        };
        let wanted = self
            .subscription
            .event_types
            .iter()
            .any(|t| t == envelope.event_type.as_str());
        let outcome = if wanted {
            self.subscription.handler.handle(&envelope).await
        } else {
            Ok(())
        };
        match outcome {
            Ok(()) => {
                let failures = self.settings.failures_key(group);
                redis::pipe()
                    .atomic()
                    .xack(&self.stream, group, &[&entry.id])
                    .ignore()
                    .hdel(failures, &entry.id)
                    .ignore()
                    .query_async::<()>(&mut self.conn)
                    .await?;
                Ok(Handled::Acknowledged)
            }
            Err(err) => {
                let failures: u32 = self.conn.hincr(self.settings.failures_key(group), &entry.id, 1).await?;
                tracing::warn!(
                    stream = %self.stream, consumer = group, event_id = %envelope.event_id,
                    event_type = %envelope.event_type, failures, error = %err, "event handler failed"
                );
                if failures >= self.settings.max_deliveries {
                    self.dead_letter(group, entry, &format!("{err:#}")).await?;
                    return Ok(Handled::Acknowledged);
                }
                Ok(Handled::Failed { failures })
            }
        }
    }

    /// Moves an entry to the group's dead-letter stream and acknowledges it, at once.
    async fn dead_letter(&mut self, group: &str, entry: &StreamId, error: &str) -> RedisResult<()> {
        tracing::error!(stream = %self.stream, consumer = group, entry = %entry.id, error, "event moved to the dead-letter stream");
        let envelope = entry.get::<String>("envelope").unwrap_or_default();
        let event_type = entry.get::<String>("event_type").unwrap_or_default();
        redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(self.settings.dead_letters(group))
            .arg("*")
            .arg("stream")
            .arg(&self.stream)
            .arg("entry")
            .arg(&entry.id)
            .arg("event_type")
            .arg(event_type)
            .arg("envelope")
            .arg(envelope)
            .arg("error")
            .arg(error)
            .ignore()
            .xack(&self.stream, group, &[&entry.id])
            .ignore()
            .hdel(self.settings.failures_key(group), &entry.id)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await
    }
}

/// Reads streams without a group for an every-replica consumer.
struct FanOutReader {
    conn: MultiplexedConnection,
    /// Each stream and the id of the last entry passed on.
    positions: Vec<(String, String)>,
    subscription: Subscription,
    batch: usize,
}

impl FanOutReader {
    async fn run(mut self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                read = self.step() => if let Err(err) = read {
                    tracing::warn!(consumer = %self.subscription.consumer, error = %err, "event fan-out reader failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                },
            }
        }
    }

    async fn step(&mut self) -> RedisResult<()> {
        let keys: Vec<&str> = self.positions.iter().map(|(stream, _)| stream.as_str()).collect();
        let ids: Vec<&str> = self.positions.iter().map(|(_, id)| id.as_str()).collect();
        let options = StreamReadOptions::default().count(self.batch).block(1000);
        let reply: Option<StreamReadReply> = self.conn.xread_options(&keys, &ids, &options).await?;
        let mut newest: HashMap<String, String> = HashMap::new();
        for key in reply.map(|reply| reply.keys).unwrap_or_default() {
            for entry in &key.ids {
                let envelope = entry
                    .get::<String>("envelope")
                    .and_then(|body| serde_json::from_str::<EventEnvelope>(&body).ok());
                if let Some(envelope) = envelope
                    && self
                        .subscription
                        .event_types
                        .iter()
                        .any(|t| t == envelope.event_type.as_str())
                    && let Err(err) = self.subscription.handler.handle(&envelope).await
                {
                    tracing::warn!(consumer = %self.subscription.consumer, event_id = %envelope.event_id, error = %err, "fan-out handler failed");
                }
                newest.insert(key.key.clone(), entry.id.clone());
            }
        }
        for (stream, position) in &mut self.positions {
            if let Some(id) = newest.remove(stream.as_str()) {
                *position = id;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_key_always_lands_in_the_same_shard_of_its_family() {
        let settings = RedisBusSettings::new("redis://127.0.0.1:6379");
        assert_eq!(fnv1a(b"order-1"), fnv1a(b"order-1"));
        // FNV-1a of the empty input is its offset basis: the constants are the standard ones.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let shards: BTreeSet<u64> = (0..100).map(|n| fnv1a(format!("key-{n}").as_bytes()) % 4).collect();
        assert_eq!(shards.len(), 4, "keys spread over every shard");
        let streams = settings
            .streams_of(&[
                "ecommerce.orders.order.created.v1".into(),
                "ecommerce.orders.order.paid.v1".into(),
            ])
            .unwrap();
        assert_eq!(streams.len(), 8);
        assert_eq!(streams[0], "events:ecommerce.orders.order:0");
        assert_eq!(streams[7], "events:ecommerce.orders.order:7");
    }
}
