//! Throttles: a key's budget per window, and counted in the real Redis, one count
//! that replicas share, with a Redis that cannot be reached still leaving the
//! throttle counting (in memory).

use std::time::Duration;

use kernel_infra::throttle::Throttle;

async fn admitted(throttle: &Throttle, key: &str, times: usize) -> usize {
    let mut admitted = 0;
    for _ in 0..times {
        if throttle.hit(key).await.is_ok() {
            admitted += 1;
        }
    }
    admitted
}

#[tokio::test]
async fn a_key_gets_its_limit_per_window_then_is_refused_with_the_time_left() {
    let throttle = Throttle::counted_in("test", 3, Duration::from_secs(600), None);
    assert_eq!(admitted(&throttle, "a", 5).await, 3);
    let refused = throttle.check("a").await.unwrap_err();
    assert!(refused.retry_after <= Duration::from_secs(600) && refused.retry_after >= Duration::from_secs(1));
    assert_eq!(admitted(&throttle, "b", 3).await, 3, "another key has its own budget");
    throttle.clear("a").await;
    assert!(throttle.check("a").await.is_ok(), "cleared");
}

#[tokio::test]
async fn replicas_share_the_count_in_redis_and_fall_back_to_memory_without_it() {
    let Some(url) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let key = uuid::Uuid::now_v7().to_string();
    let one = Throttle::counted_in("test", 4, Duration::from_secs(600), Some(&url));
    let other = Throttle::counted_in("test", 4, Duration::from_secs(600), Some(&url));
    assert_eq!(admitted(&one, &key, 2).await + admitted(&other, &key, 4).await, 4);
    assert!(other.check(&key).await.is_err(), "the other replica sees the count");
    one.clear(&key).await;
    assert!(other.check(&key).await.is_ok(), "cleared for both");

    let unreachable = Throttle::counted_in("test", 2, Duration::from_secs(600), Some("redis://127.0.0.1:1"));
    assert_eq!(admitted(&unreachable, &key, 4).await, 2, "still counted, in memory");
}
