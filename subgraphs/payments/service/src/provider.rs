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

/// Opens after `threshold` consecutive failures; after `cool_down` it lets one trial
/// call through (half-open) and closes again when that succeeds.
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold,
            cool_down,
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
                state.open_until = Some(Instant::now() + self.cool_down);
                true
            }
            None => true,
        }
    }

    pub fn record_success(&self) {
        let mut state = self.state();
        state.consecutive_failures = 0;
        state.open_until = None;
    }

    pub fn record_failure(&self) {
        let mut state = self.state();
        state.consecutive_failures += 1;
        if state.consecutive_failures >= self.threshold {
            state.open_until = Some(Instant::now() + self.cool_down);
        }
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
                    self.breaker.record_success();
                    return Ok(reference);
                }
                Err(declined @ ProviderError::Declined(_)) => {
                    self.breaker.record_success();
                    return Err(declined);
                }
                Err(err) => {
                    self.breaker.record_failure();
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
        ProviderCall {
            kind: TransactionKind::Authorize,
            idempotency_key: format!("auth:{}", uuid::Uuid::now_v7()),
            amount: Money::new(100, Currency::parse("USD").unwrap()),
            method: method.into(),
            reference: None,
        }
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
            CircuitBreaker::new(100, Duration::from_secs(1)),
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
            CircuitBreaker::new(100, Duration::from_secs(1)),
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
            CircuitBreaker::new(3, Duration::from_secs(60)),
            fast(),
        );
        assert!(matches!(
            simulated.execute(&call("card_declined")).await,
            Err(ProviderError::Declined(_))
        ));
        // Five failed attempts open the circuit (threshold 3) …
        assert!(simulated.execute(&call("card_unavailable")).await.is_err());
        assert!(simulated.breaker.is_open());
        // … and then even a good card is refused without reaching the provider.
        match simulated.execute(&call("card")).await {
            Err(ProviderError::Unavailable(reason)) => assert!(reason.contains("circuit open"), "{reason}"),
            other => panic!("{other:?}"),
        }
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
