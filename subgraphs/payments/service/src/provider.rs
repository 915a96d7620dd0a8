//! The payment provider port, a simulated provider, and the resilience around every
//! call to it: retries with exponential backoff and jitter (5 attempts) behind a
//! circuit breaker, each call carrying an idempotency key so a retry is never a second
//! charge.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kernel::Money;
use payments_domain::TransactionKind;

/// Why the provider did not confirm a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// A final answer: the card was refused. Not retried.
    #[error("declined: {0}")]
    Declined(String),
    /// The provider failed or could not be reached: worth another attempt.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// A call to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCall {
    pub kind: TransactionKind,
    /// The same key for every attempt of one call.
    pub idempotency_key: String,
    pub amount: Money,
    pub method: String,
    /// The provider's reference of the authorization, for the later calls.
    pub reference: Option<String>,
    /// Whose payment it is (the customer), which the circuit breaker counts.
    pub payer: uuid::Uuid,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Performs one attempt of `call` and returns the provider's reference.
    ///
    /// # Errors
    /// Declined or unavailable.
    async fn execute(&self, call: &ProviderCall) -> Result<String, ProviderError>;
}

/// A provider for development and tests: answers after `latency`, fails transiently
/// with probability `failure_rate`, and dedups by idempotency key like a real one.
///
/// Payment methods steer it: `card_declined` is always declined, `card_unavailable`
/// always fails transiently (so every retry is used), anything else is approved.
pub struct SimulatedProvider {
    latency: Duration,
    failure_rate: f64,
    answered: Mutex<HashMap<String, String>>,
}

impl SimulatedProvider {
    pub fn new(latency: Duration, failure_rate: f64) -> Self {
        Self {
            latency,
            failure_rate: failure_rate.clamp(0.0, 1.0),
            answered: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    async fn execute(&self, call: &ProviderCall) -> Result<String, ProviderError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut answered = self.answered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(reference) = answered.get(&call.idempotency_key) {
            return Ok(reference.clone());
        }
        if call.method == "card_unavailable" || rand::random::<f64>() < self.failure_rate {
            return Err(ProviderError::Unavailable("simulated outage".into()));
        }
        if call.kind == TransactionKind::Authorize && call.method == "card_declined" {
            return Err(ProviderError::Declined("the card was declined".into()));
        }
        let reference = call
            .reference
            .clone()
            .unwrap_or_else(|| format!("sim_{}", uuid::Uuid::now_v7().simple()));
        answered.insert(call.idempotency_key.clone(), reference.clone());
        Ok(reference)
    }
}

/// When the breaker opens: on the provider's failure *rate* over a sliding window, and
/// only when the failures come from several payers, so a real outage opens it and one
/// payer whose payments keep failing (a bad card, a test of ours, an attacker) cannot
/// stop payments for everyone.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// How far back calls count.
    pub window: Duration,
    /// Fewer calls than this in the window never open it.
    pub min_calls: usize,
    /// The share of the window's calls that failed, from 0 to 1, at which it opens.
    pub failure_rate: f64,
    /// The failures must come from at least this many distinct payers.
    pub min_payers: usize,
    /// How long it stays open before one trial call goes through (half-open).
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            min_calls: 10,
            failure_rate: 0.5,
            min_payers: 3,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// The calls of the window the breaker keeps at most (the oldest go first).
const BREAKER_MEMORY: usize = 10_000;

/// A circuit breaker in front of the provider (see [`BreakerPolicy`]). Open, it fails
/// calls fast; after `cool_down` it lets one trial call through and closes when that
/// succeeds.
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    /// The window's calls: when, whether it failed, and whose payment it was.
    calls: std::collections::VecDeque<(Instant, bool, uuid::Uuid)>,
    open_until: Option<Instant>,
}

impl CircuitBreaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(BreakerState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a call go through now?
    pub fn allows(&self) -> bool {
        let mut state = self.state();
        match state.open_until {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half-open: this caller is the trial; others wait for its outcome.
                state.open_until = Some(Instant::now() + self.policy.cool_down);
                true
            }
            None => true,
        }
    }

    /// A call for `payer` succeeded (or got a final answer such as a decline): the
    /// provider works, and a half-open breaker closes.
    pub fn record_success(&self, payer: uuid::Uuid) {
        let mut state = self.state();
        if state.open_until.take().is_some() {
            state.calls.clear();
        }
        self.remember(&mut state, false, payer);
    }

    /// A call for `payer` failed: the breaker opens when the window says so.
    pub fn record_failure(&self, payer: uuid::Uuid) {
        let mut state = self.state();
        self.remember(&mut state, true, payer);
        let failures: Vec<uuid::Uuid> = state
            .calls
            .iter()
            .filter(|(_, failed, _)| *failed)
            .map(|(_, _, payer)| *payer)
            .collect();
        let calls = state.calls.len();
        let payers: std::collections::HashSet<uuid::Uuid> = failures.iter().copied().collect();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let rate = failures.len() as f64 / calls.max(1) as f64;
        if calls >= self.policy.min_calls && rate >= self.policy.failure_rate && payers.len() >= self.policy.min_payers
        {
            if state.open_until.is_none() {
                tracing::warn!(
                    calls,
                    failures = failures.len(),
                    payers = payers.len(),
                    "payment provider failing: circuit open"
                );
            }
            state.open_until = Some(Instant::now() + self.policy.cool_down);
        }
    }

    fn remember(&self, state: &mut BreakerState, failed: bool, payer: uuid::Uuid) {
        let now = Instant::now();
        while state
            .calls
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > self.policy.window)
            || state.calls.len() >= BREAKER_MEMORY
        {
            state.calls.pop_front();
        }
        state.calls.push_back((now, failed, payer));
    }

    pub fn is_open(&self) -> bool {
        self.state().open_until.is_some_and(|until| Instant::now() < until)
    }
}

/// Retries with exponential backoff and full jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1`: a random share of base × 2^(attempt-1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        ceiling.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }
}

/// The provider as the use cases call it: retried and guarded.
pub struct ResilientProvider {
    provider: Box<dyn PaymentProvider>,
    breaker: CircuitBreaker,
    policy: RetryPolicy,
}

impl ResilientProvider {
    pub fn new(provider: Box<dyn PaymentProvider>, breaker: CircuitBreaker, policy: RetryPolicy) -> Self {
        Self {
            provider,
            breaker,
            policy,
        }
    }

    /// Up to `policy.attempts` attempts while the provider is unavailable; a decline
    /// ends at once; an open circuit fails fast without calling.
    ///
    /// # Errors
    /// The decline, or Unavailable after the last attempt or with the circuit open.
    pub async fn execute(&self, call: &ProviderCall) -> Result<String, ProviderError> {
        let mut last = ProviderError::Unavailable("not attempted".into());
        for attempt in 1..=self.policy.attempts {
            if !self.breaker.allows() {
                return Err(ProviderError::Unavailable(
                    "circuit open: the provider keeps failing".into(),
                ));
            }
            match self.provider.execute(call).await {
                Ok(reference) => {
                    self.breaker.record_success(call.payer);
                    return Ok(reference);
                }
                Err(declined @ ProviderError::Declined(_)) => {
                    self.breaker.record_success(call.payer);
                    return Err(declined);
                }
                Err(err) => {
                    self.breaker.record_failure(call.payer);
                    tracing::warn!(attempt, key = %call.idempotency_key, error = %err, "payment provider call failed");
                    last = err;
                }
            }
            if attempt < self.policy.attempts {
                tokio::time::sleep(self.policy.delay(attempt)).await;
            }
        }
        Err(match last {
            ProviderError::Unavailable(reason) => {
                ProviderError::Unavailable(format!("{reason} (after {} attempts)", self.policy.attempts))
            }
            declined => declined,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use kernel::Currency;

    /// Fails the first `failures` attempts, then approves; counts attempts.
    struct Flaky {
        failures: u32,
        calls: Arc<AtomicU32>,
    }

    #[async_trait]
    impl PaymentProvider for Flaky {
        async fn execute(&self, _call: &ProviderCall) -> Result<String, ProviderError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                Err(ProviderError::Unavailable("flaky".into()))
            } else {
                Ok("ref".into())
            }
        }
    }

    fn call(method: &str) -> ProviderCall {
        call_for(method, uuid::Uuid::nil())
    }

    fn call_for(method: &str, payer: uuid::Uuid) -> ProviderCall {
        ProviderCall {
            kind: TransactionKind::Authorize,
            idempotency_key: format!("auth:{}", uuid::Uuid::now_v7()),
            amount: Money::new(100, Currency::parse("USD").unwrap()),
            method: method.into(),
            reference: None,
            payer,
        }
    }

    fn never_opens() -> CircuitBreaker {
        CircuitBreaker::new(BreakerPolicy {
            min_calls: 1_000,
            ..BreakerPolicy::default()
        })
    }

    fn opens_at(min_calls: usize, min_payers: usize) -> CircuitBreaker {
        CircuitBreaker::new(BreakerPolicy {
            window: Duration::from_secs(60),
            min_calls,
            failure_rate: 0.5,
            min_payers,
            cool_down: Duration::from_secs(60),
        })
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_up_to_five_attempts() {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = ResilientProvider::new(
            Box::new(Flaky {
                failures: 4,
                calls: calls.clone(),
            }),
            never_opens(),
            fast(),
        );
        assert_eq!(provider.execute(&call("card")).await, Ok("ref".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 5);

        let calls = Arc::new(AtomicU32::new(0));
        let provider = ResilientProvider::new(
            Box::new(Flaky {
                failures: 5,
                calls: calls.clone(),
            }),
            never_opens(),
            fast(),
        );
        assert!(matches!(
            provider.execute(&call("card")).await,
            Err(ProviderError::Unavailable(_))
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn declines_are_final_and_an_open_circuit_fails_fast() {
        let simulated = ResilientProvider::new(
            Box::new(SimulatedProvider::new(Duration::ZERO, 0.0)),
            opens_at(6, 2),
            fast(),
        );
        assert!(matches!(
            simulated.execute(&call("card_declined")).await,
            Err(ProviderError::Declined(_))
        ));
        // Two payers' payments fail, five attempts each: the provider is failing …
        for _ in 0..2 {
            assert!(
                simulated
                    .execute(&call_for("card_unavailable", uuid::Uuid::now_v7()))
                    .await
                    .is_err()
            );
        }
        assert!(simulated.breaker.is_open());
        // … and then even a good card is refused without reaching the provider.
        match simulated.execute(&call("card")).await {
            Err(ProviderError::Unavailable(reason)) => assert!(reason.contains("circuit open"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn one_payer_failing_again_and_again_does_not_open_the_circuit() {
        let simulated = ResilientProvider::new(
            Box::new(SimulatedProvider::new(Duration::ZERO, 0.0)),
            opens_at(10, 3),
            fast(),
        );
        let (mallory, alice) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        for _ in 0..10 {
            assert!(simulated.execute(&call_for("card_unavailable", mallory)).await.is_err());
        }
        assert!(!simulated.breaker.is_open(), "fifty failures, all one payer's");
        assert!(
            simulated.execute(&call_for("card", alice)).await.is_ok(),
            "another payer's good card goes through"
        );
    }

    #[test]
    fn the_circuit_opens_on_the_failure_rate_of_several_payers_only() {
        let breaker = opens_at(10, 3);
        let payers: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
        // Mostly successes: a few failures of three payers do not open it.
        for payer in &payers {
            breaker.record_failure(*payer);
            for _ in 0..3 {
                breaker.record_success(*payer);
            }
        }
        assert!(!breaker.is_open(), "a quarter failed");
        // Then most calls fail, for three payers: an outage.
        for _ in 0..4 {
            for payer in &payers {
                breaker.record_failure(*payer);
            }
        }
        assert!(breaker.is_open(), "most calls failed, for several payers");
    }

    #[tokio::test]
    async fn a_repeated_key_returns_the_first_answer() {
        let provider = SimulatedProvider::new(Duration::ZERO, 0.0);
        let call = call("card");
        let first = provider.execute(&call).await.unwrap();
        assert_eq!(provider.execute(&call).await.unwrap(), first);
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_ceiling() {
        let policy = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        for attempt in 1..=4 {
            let ceiling = Duration::from_millis((100 * 2u64.pow(attempt - 1)).min(500));
            let delay = policy.delay(attempt);
            assert!(delay <= ceiling && delay >= ceiling / 2, "{attempt}: {delay:?}");
        }
    }
}
