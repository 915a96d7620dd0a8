//! The deployment files under deploy/, written from the context descriptions, so that
//! no context, port or setting can be missing from them: `platform deploy` writes them,
//! `platform deploy --check` (and a test) fails when a committed one differs.
//!
//! - `compose.yaml`: PostgreSQL with one database per context, Redis, every context,
//!   two gateways and HAProxy in front of them (`haproxy.cfg`, `postgres-init.sql`);
//! - `kubernetes/base/`: a Deployment and a Service per context and for the gateway,
//!   probes on `/readiness` and `/health`, resources, PodDisruptionBudgets,
//!   HorizontalPodAutoscalers (gateway, products, inventory), configuration from a
//!   ConfigMap, secrets from the Secret `shop-secrets`, and key files from the Secret
//!   `shop-keys`, each pod mounting only the keys its process uses;
//! - `kubernetes/overlays/production/`: more replicas and resources.
//!
//! The gateways serve the supergraph the image holds (schema/supergraph.graphql), each
//! subgraph sent to its Service by `GATEWAY_SUBGRAPH_URLS_<CONTEXT>`. The Dockerfile is
//! written by hand (deploy/Dockerfile).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use kernel_infra::context::ContextSpec;
use kernel_infra::identity::KeyUse;

use crate::CONTEXTS;

/// The image every process runs.
pub const IMAGE: &str = "ghcr.io/example/ecommerce-platform:latest";

/// Where the gateway finds its files in the image (deploy/Dockerfile puts them there).
const GATEWAY_FILES: [(&str, &str); 3] = [
    ("SUPERGRAPH_FILE_PATH", "/etc/shop/supergraph.graphql"),
    ("ROUTER_CONFIG_FILE_PATH", "/etc/shop/router.config.yaml"),
    ("TRUSTED_DOCUMENTS_DIR", "/etc/shop/manifests"),
];

/// The gateway's environment: its files, its address, and each subgraph at its
/// in-cluster (and in-compose) Service instead of the supergraph's URL
/// (`gateway.subgraph_urls`), so the image's supergraph serves unchanged.
fn gateway_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = GATEWAY_FILES
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    env.push(("PORT".into(), kernel_infra::context::GATEWAY_PORT.to_string()));
    env.push(("HOST".into(), "0.0.0.0".into()));
    for spec in &CONTEXTS {
        env.push((
            format!("GATEWAY_SUBGRAPH_URLS_{}", spec.name.to_ascii_uppercase()),
            service_url(spec.name),
        ));
    }
    env
}

/// Where the key files are mounted.
const KEYS_DIR: &str = "/etc/shop/keys";

/// What a process doing `uses` is given: the key files it mounts (the file's name in
/// the Secret `shop-keys`, and the variable that says where it is), and whether it
/// needs `JWT_SECRET`. The gateway's and the services' private keys go only where
/// they sign.
fn keys_for(uses: &[KeyUse]) -> (Vec<(&'static str, &'static str)>, bool) {
    let (mut files, mut jwt) = (Vec::new(), false);
    for use_ in uses {
        match use_ {
            KeyUse::VerifiesAssertions => files.extend([
                ("gateway.pub", "IDENTITY_GATEWAY_PUBLIC_KEY_FILE"),
                ("service.pub", "IDENTITY_SERVICE_PUBLIC_KEY_FILE"),
            ]),
            KeyUse::SignsServiceCalls => files.push(("service.key", "IDENTITY_SERVICE_PRIVATE_KEY_FILE")),
            KeyUse::SignsAccessTokens => jwt = true,
            KeyUse::Gateway => {
                files.push(("gateway.key", "IDENTITY_GATEWAY_PRIVATE_KEY_FILE"));
                jwt = true;
            }
        }
    }
    (files, jwt)
}

/// A key file's name as a compose secret.
fn compose_secret(file: &str) -> String {
    file.replace('.', "_")
}

/// Contexts scaled by a HorizontalPodAutoscaler beside the gateway.
const AUTOSCALED: [&str; 2] = ["products", "inventory"];

/// Where a context listens inside a cluster or a compose network.
fn service_url(name: &str) -> String {
    format!("http://{name}:{}/graphql", kernel_infra::context::default_port(name))
}

fn yaml(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

fn documents(values: &[Value]) -> String {
    values.iter().map(yaml).collect::<Vec<_>>().join("---\n")
}

/// The environment of a context's process: where it listens, and the URL of each
/// context it calls (a `<peer>_url` key of its settings, e.g. Checkout's
/// `accounts_url`, becomes `CHECKOUT_ACCOUNTS_URL` with the peer's Service).
fn context_env(spec: &ContextSpec) -> Vec<(String, String)> {
    let upper = spec.name.to_ascii_uppercase();
    let mut env = vec![(format!("{upper}_LISTEN"), format!("0.0.0.0:{}", spec.default_port()))];
    for peer in spec.peers() {
        env.push((format!("{upper}_{}_URL", peer.to_ascii_uppercase()), service_url(peer)));
    }
    env
}

fn compose() -> Value {
    let mut services = serde_json::Map::new();
    services.insert(
        "postgres".into(),
        json!({
            "image": "postgres:16",
            "environment": { "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-shop}" },
            "volumes": ["./postgres-init.sql:/docker-entrypoint-initdb.d/init.sql:ro", "postgres:/var/lib/postgresql/data"],
            "healthcheck": { "test": ["CMD", "pg_isready", "-U", "postgres"], "interval": "5s", "retries": 10 },
        }),
    );
    services.insert(
        "redis".into(),
        json!({
            "image": "redis:7",
            "healthcheck": { "test": ["CMD", "redis-cli", "ping"], "interval": "5s", "retries": 10 },
        }),
    );
    // What every replica shares through Redis: events, the gateway's persisted queries,
    // rate limits and throttles, and its response cache.
    let common = json!({
        "APQ_REDIS_URL": "redis://redis:6379",
        "EVENT_BUS_REDIS_URL": "redis://redis:6379",
        "GATEWAY_ENV": "production",
        "LOG_FORMAT": "json",
        "RATE_LIMIT_REDIS_URL": "redis://redis:6379",
        "RESPONSE_CACHE_REDIS_URL": "redis://redis:6379",
    });
    // Each process's keys: JWT_SECRET from the shell, the key files as compose secrets.
    let with_keys = |environment: &mut Value, uses: &[KeyUse]| -> Vec<String> {
        let (files, jwt) = keys_for(uses);
        if jwt {
            environment["JWT_SECRET"] = json!("${JWT_SECRET:?set JWT_SECRET}");
        }
        files
            .iter()
            .map(|(file, variable)| {
                environment[*variable] = json!(format!("/run/secrets/{}", compose_secret(file)));
                compose_secret(file)
            })
            .collect()
    };
    for spec in &CONTEXTS {
        let mut environment = common.clone();
        let secrets = with_keys(&mut environment, &spec.key_uses());
        environment[format!("{}_DATABASE_URL", spec.name.to_ascii_uppercase())] = json!(format!(
            "postgres://postgres:${{POSTGRES_PASSWORD:-shop}}@postgres:5432/{}",
            spec.name
        ));
        for (key, value) in context_env(spec) {
            environment[key] = json!(value);
        }
        services.insert(
            spec.name.into(),
            json!({
                "image": IMAGE,
                "command": ["platform", spec.name],
                "environment": environment,
                "secrets": secrets,
                "depends_on": {
                    "postgres": { "condition": "service_healthy" },
                    "redis": { "condition": "service_healthy" },
                },
                "healthcheck": {
                    "test": ["CMD", "curl", "-fsS", format!("http://127.0.0.1:{}/readiness", spec.default_port())],
                    "interval": "5s",
                    "retries": 12,
                },
                "restart": "unless-stopped",
            }),
        );
    }
    for gateway in ["gateway-1", "gateway-2"] {
        let mut environment = common.clone();
        let secrets = with_keys(&mut environment, &[KeyUse::Gateway]);
        for (key, value) in gateway_env() {
            environment[key] = json!(value);
        }
        services.insert(
            gateway.into(),
            json!({
                "image": IMAGE,
                "command": ["platform", "gateway"],
                "environment": environment,
                "secrets": secrets,
                "depends_on": CONTEXTS.iter().map(|spec| spec.name).collect::<Vec<_>>(),
                "restart": "unless-stopped",
            }),
        );
    }
    services.insert(
        "haproxy".into(),
        json!({
            "image": "haproxy:2.6",
            "ports": ["4000:4000"],
            "volumes": ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"],
            "depends_on": ["gateway-1", "gateway-2"],
        }),
    );
    // The key files, made beside this file (docs/operations.md says how).
    let secrets: serde_json::Map<String, Value> = ["gateway.key", "gateway.pub", "service.key", "service.pub"]
        .iter()
        .map(|file| (compose_secret(file), json!({ "file": format!("./keys/{file}") })))
        .collect();
    json!({ "services": services, "volumes": { "postgres": {} }, "secrets": secrets })
}

fn haproxy() -> String {
    "# Written by `platform deploy`: both gateways behind one port, checked on /readiness.\n\
     global\n    maxconn 4096\n\n\
     defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\n\n\
     frontend graphql\n    bind *:4000\n    default_backend gateways\n\n\
     backend gateways\n    balance roundrobin\n    option httpchk GET /readiness\n\
     \x20   server gateway-1 gateway-1:4000 check inter 2s fall 2 rise 2\n\
     \x20   server gateway-2 gateway-2:4000 check inter 2s fall 2 rise 2\n"
        .to_owned()
}

fn postgres_init() -> String {
    let mut sql = "-- Written by `platform deploy`: one database per context.\n".to_owned();
    for spec in &CONTEXTS {
        sql.push_str(&format!("CREATE DATABASE {};\n", spec.name));
    }
    sql
}

fn labels(name: &str) -> Value {
    json!({ "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ecommerce-platform" })
}

/// A Deployment, its Service, PodDisruptionBudget and (when `autoscaled`) its
/// HorizontalPodAutoscaler.
fn workload(
    name: &str,
    args: &[&str],
    port: u16,
    mut env: Vec<Value>,
    env_from: Vec<Value>,
    uses: &[KeyUse],
    autoscaled: bool,
) -> Vec<Value> {
    let (files, jwt) = keys_for(uses);
    if jwt {
        env.push(secret_env("JWT_SECRET"));
    }
    for (file, variable) in &files {
        env.push(json!({ "name": variable, "value": format!("{KEYS_DIR}/{file}") }));
    }
    let probe = |path: &str, period: u16| json!({ "httpGet": { "path": path, "port": "http" }, "periodSeconds": period, "failureThreshold": 3 });
    let mut container = json!({
        "name": name,
        "image": IMAGE,
        "args": args,
        "ports": [{ "name": "http", "containerPort": port }],
        "env": env,
        "envFrom": env_from,
        "readinessProbe": probe("/readiness", 5),
        "livenessProbe": probe("/health", 10),
        "resources": {
            "requests": { "cpu": "100m", "memory": "128Mi" },
            "limits": { "cpu": "1", "memory": "512Mi" },
        },
        "securityContext": { "runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true },
    });
    let mut mounts = vec![json!({ "name": "keys", "mountPath": KEYS_DIR, "readOnly": true })];
    let items: Vec<Value> = files
        .iter()
        .map(|(file, _)| json!({ "key": file, "path": file }))
        .collect();
    let mut volumes = vec![json!({ "name": "keys", "secret": { "secretName": "shop-keys", "items": items } })];
    let mut pod_metadata = json!({ "labels": labels(name) });
    if name == "gateway" {
        mounts.push(json!({ "name": "tmp", "mountPath": "/tmp" }));
        volumes.push(json!({ "name": "tmp", "emptyDir": {} }));
        // Its metrics have a port of their own, which the Service for clients leaves
        // out: Prometheus scrapes the pods from inside the cluster.
        let metrics_port = kernel_infra::context::GATEWAY_METRICS_PORT;
        if let Some(ports) = container["ports"].as_array_mut() {
            ports.push(json!({ "name": "metrics", "containerPort": metrics_port }));
        }
        pod_metadata["annotations"] = json!({
            "prometheus.io/scrape": "true",
            "prometheus.io/port": metrics_port.to_string(),
            "prometheus.io/path": "/metrics",
        });
    }
    container["volumeMounts"] = json!(mounts);
    // No Docker-link variables (ORDERS_SERVICE_HOST, GATEWAY_PORT=tcp://…): they would
    // collide with the configuration's variables, which refuse unknown keys.
    let pod = json!({
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": 40,
        "containers": [container],
        "volumes": volumes,
    });
    let mut resources = vec![
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": name, "labels": labels(name) },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app.kubernetes.io/name": name } },
                "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 } },
                "template": { "metadata": pod_metadata, "spec": pod },
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "labels": labels(name) },
            "spec": {
                "selector": { "app.kubernetes.io/name": name },
                "ports": [{ "name": "http", "port": port, "targetPort": "http" }],
            },
        }),
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": { "name": name, "labels": labels(name) },
            "spec": { "minAvailable": 1, "selector": { "matchLabels": { "app.kubernetes.io/name": name } } },
        }),
    ];
    if autoscaled {
        resources.push(json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": { "name": name, "labels": labels(name) },
            "spec": {
                "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [{
                    "type": "Resource",
                    "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } },
                }],
            },
        }));
    }
    resources
}

fn secret_env(key: &str) -> Value {
    json!({ "name": key, "valueFrom": { "secretKeyRef": { "name": "shop-secrets", "key": key } } })
}

fn kubernetes_context(spec: &ContextSpec) -> String {
    let name = spec.name;
    let upper = name.to_ascii_uppercase();
    let mut env = vec![secret_env(&format!("{upper}_DATABASE_URL"))];
    for (key, value) in context_env(spec) {
        env.push(json!({ "name": key, "value": value }));
    }
    let from = vec![json!({ "configMapRef": { "name": "shop-config" } })];
    let port = spec.default_port();
    let uses = spec.key_uses();
    documents(&workload(
        name,
        &[name],
        port,
        env,
        from,
        &uses,
        AUTOSCALED.contains(&name),
    ))
}

fn kubernetes_gateway() -> String {
    let mut env = Vec::new();
    for (key, value) in gateway_env() {
        env.push(json!({ "name": key, "value": value }));
    }
    let from = vec![json!({ "configMapRef": { "name": "shop-config" } })];
    documents(&workload(
        "gateway",
        &["gateway"],
        kernel_infra::context::GATEWAY_PORT,
        env,
        from,
        &[KeyUse::Gateway],
        true,
    ))
}

fn kustomization() -> Value {
    let mut resources: Vec<String> = CONTEXTS.iter().map(|spec| format!("{}.yaml", spec.name)).collect();
    resources.push("gateway.yaml".into());
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "configMapGenerator": [
            {
                "name": "shop-config",
                "literals": [
                    "APQ_REDIS_URL=redis://redis:6379",
                    "EVENT_BUS_REDIS_URL=redis://redis:6379",
                    "GATEWAY_ENV=production",
                    "LOG_FORMAT=json",
                    "RATE_LIMIT_REDIS_URL=redis://redis:6379",
                    "RESPONSE_CACHE_REDIS_URL=redis://redis:6379",
                    "SHUTDOWN_GRACE_SECONDS=30",
                ],
            },
        ],
    })
}

fn production_overlay() -> Value {
    let patch = |name: &str, replicas: u32| {
        json!({
            "target": { "kind": "Deployment", "name": name },
            "patch": format!(
                "- op: replace\n  path: /spec/replicas\n  value: {replicas}\n\
                 - op: replace\n  path: /spec/template/spec/containers/0/resources\n  value:\n    requests: {{cpu: 500m, memory: 256Mi}}\n    limits: {{cpu: '2', memory: 1Gi}}\n"
            ),
        })
    };
    let mut patches: Vec<Value> = CONTEXTS.iter().map(|spec| patch(spec.name, 3)).collect();
    patches.push(patch("gateway", 3));
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "shop",
        "resources": ["../../base"],
        "images": [{ "name": IMAGE.split(':').next().unwrap_or(IMAGE), "newTag": "1.0.0" }],
        "patches": patches,
    })
}

/// Every generated file under `deploy_dir`, with its content.
pub fn expected_files(deploy_dir: &Path) -> Vec<(PathBuf, String)> {
    let header = "# Written by `platform deploy` from the context descriptions; do not edit.\n";
    let base = deploy_dir.join("kubernetes/base");
    let mut files = vec![
        (deploy_dir.join("compose.yaml"), format!("{header}{}", yaml(&compose()))),
        (deploy_dir.join("haproxy.cfg"), haproxy()),
        (deploy_dir.join("postgres-init.sql"), postgres_init()),
        (
            base.join("kustomization.yaml"),
            format!("{header}{}", yaml(&kustomization())),
        ),
        (base.join("gateway.yaml"), format!("{header}{}", kubernetes_gateway())),
        (
            deploy_dir.join("kubernetes/overlays/production/kustomization.yaml"),
            format!("{header}{}", yaml(&production_overlay())),
        ),
    ];
    for spec in &CONTEXTS {
        files.push((
            base.join(format!("{}.yaml", spec.name)),
            format!("{header}{}", kubernetes_context(spec)),
        ));
    }
    files
}

/// Writes every generated file; returns their paths.
///
/// # Errors
/// When a file cannot be written.
pub fn write(deploy_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, content) in expected_files(deploy_dir) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
        written.push(path);
    }
    Ok(written)
}

/// The generated files that are missing or differ from what the code produces.
pub fn stale(deploy_dir: &Path) -> Vec<PathBuf> {
    expected_files(deploy_dir)
        .into_iter()
        .filter(|(path, content)| std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()))
        .map(|(path, _)| path)
        .collect()
}
