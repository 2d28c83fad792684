//! Medians over runs, the machine and versions, and the two output files:
//! `RESULTS.md` (for people) and `results.json` (for tools).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::plan::Plan;

/// Where and with what the figures were taken.
pub fn machine(plan: &Plan) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let socketio = std::fs::read_to_string(
        plan.programs
            .socketio_dir
            .join("node_modules/socket.io/package.json"),
    )
    .ok()
    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    .and_then(|v| v["version"].as_str().map(str::to_string))
    .unwrap_or_else(|| "unknown".into());
    json!({
        "machine": {
            "nproc": std::thread::available_parallelism().map_or(0, usize::from),
            "cpu": cpu,
            "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            "os": command_line("uname", &["-sr"]),
        },
        "versions": {
            "rustc": command_line("rustc", &["--version"]),
            "node": command_line(&plan.programs.node, &["--version"]),
            "socket.io": socketio,
            "relay": command_line(&plan.programs.relay.to_string_lossy(), &["--version"]),
        },
    })
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The median of every number found at the same place in all runs; other leaves (arrays,
/// strings, flags) come from the first run that has them.
pub fn median(runs: &[&Value]) -> Value {
    if runs.iter().all(|v| v.is_object()) {
        let mut keys: Vec<&String> = Vec::new();
        for r in runs {
            for k in r.as_object().into_iter().flat_map(Map::keys) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut out = Map::new();
        for k in keys {
            let values: Vec<&Value> = runs.iter().filter_map(|r| r.get(k)).collect();
            out.insert(k.clone(), median(&values));
        }
        return Value::Object(out);
    }
    let mut numbers: Vec<f64> = runs.iter().filter_map(|v| v.as_f64()).collect();
    if numbers.len() == runs.len() && !numbers.is_empty() {
        numbers.sort_by(f64::total_cmp);
        let m = numbers.len() / 2;
        let mid = if numbers.len() % 2 == 1 {
            numbers[m]
        } else {
            (numbers[m - 1] + numbers[m]) / 2.0
        };
        return json!(mid);
    }
    runs.first().map_or(Value::Null, |v| (*v).clone())
}

/// Writes `results.json` and `RESULTS.md` into the plan's output directory.
pub fn write(plan: &Plan, env: &Value, runs: &[Value]) -> anyhow::Result<()> {
    let refs: Vec<&Value> = runs.iter().collect();
    let m = median(&refs);
    let summary = summarize(plan, env, &m, runs);
    std::fs::create_dir_all(&plan.out_dir)?;
    let json_path = plan.out_dir.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&summary)? + "\n")?;
    let md_path = plan.out_dir.join("RESULTS.md");
    // The soak writes its own section (`make soak`); a bench run keeps it.
    let old = std::fs::read_to_string(&md_path).unwrap_or_default();
    let (_, soak) = crate::soak::split_results(&old);
    let mut text = markdown(plan, &summary);
    if !soak.is_empty() {
        text = format!("{}\n\n{}", text.trim_end(), soak.trim_end()) + "\n";
    }
    std::fs::write(&md_path, text)?;
    eprintln!("wrote {} and {}", show(&json_path), show(&md_path));
    Ok(())
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn ratio(a: &Value, b: &Value) -> Value {
    match (num(a), num(b)) {
        (Some(a), Some(b)) if b > 0.0 => json!((a / b * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

fn summarize(plan: &Plan, env: &Value, m: &Value, runs: &[Value]) -> Value {
    let fan = &m["fanout"];
    let per_peer = |scenario: &Value, f: &dyn Fn(&Value) -> Value| -> Value {
        Value::Object(
            scenario
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), f(v)))
                .collect(),
        )
    };
    let fanout = per_peer(fan, &|v| v["delivered_per_s"].clone());
    let latency = per_peer(fan, &|v| {
        let l = &v["half_load"]["latency"];
        json!({ "p50": l["p50_ms"], "p99": l["p99_ms"], "p999": l["p999_ms"] })
    });
    // Every peer at the same offered rates: {peer: {load: {rate, p50, p99} | over capacity}}.
    let equal_load = per_peer(fan, &|v| {
        Value::Object(
            v["equal_load"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, r)| {
                    let l = &r["latency"];
                    let cell = if r["over_capacity"].as_bool() == Some(true) {
                        json!({ "delivered_per_s": r["delivered_per_s"], "over_capacity": true })
                    } else {
                        json!({ "delivered_per_s": r["delivered_per_s"], "p50": l["p50_ms"], "p99": l["p99_ms"] })
                    };
                    (k.clone(), cell)
                })
                .collect(),
        )
    });
    let cpu = |key: &str| {
        per_peer(
            fan,
            &|v| json!({ "saturation": v[key], "half_load": v["half_load"][key] }),
        )
    };
    let idle_cometa = &m["idle"]["cometa"];
    let rss = &idle_cometa["rss_bytes_per_connection"];
    let first_equal = plan
        .latency_rates
        .first()
        .map(|&r| crate::scenario::fanout::label(r));
    let p99 = &first_equal
        .as_ref()
        .map_or(Value::Null, |k| equal_load["cometa"][k]["p99"].clone());
    let p99_goal = format!(
        "fan-out p99 at {} deliveries/s",
        first_equal.as_deref().unwrap_or("–")
    );
    let over_ceiling = ratio(&fanout["cometa"], &fanout["ceiling"]);
    let over_socketio = ratio(&fanout["cometa"], &fanout["socketio"]);
    let stored = &fan["cometa"]["stored_channel"];
    let stored_rate = &stored["delivered_per_s"];
    let stored_over_ceiling = ratio(stored_rate, &fanout["ceiling"]);
    let stored_p99 = &stored["half_load"]["latency"]["p99_ms"];
    let tunnels = &m["tunnel_fanout"]["cometa"];
    let tunnels_over_ceiling = ratio(&tunnels["delivered_per_s"], &fanout["ceiling"]);
    let target = |name: &str, goal: &str, value: &Value, met: Option<bool>| json!({ "name": name, "target": goal, "value": value, "met": met });
    let at_least = |v: &Value, x: f64| num(v).map(|v| v >= x);
    let at_most = |v: &Value, x: f64| num(v).map(|v| v <= x);
    json!({
        "generated_by": "scripts/bench.sh (cometa-bench run)",
        "smoke": plan.smoke,
        "runs": runs.len(),
        "machine": env["machine"],
        "versions": env["versions"],
        "sizes": {
            "fanout_subscribers": plan.subscribers,
            "personal_users": plan.personal_users,
            "publishers": plan.publishers,
            "idle_connections_requested": plan.idle_connections,
            "storm_connections": plan.storm_connections,
            "content_bytes": plan.pad.len() + 40,
        },
        "fanout": fanout,
        "fanout_p99_ms": p99,
        "fanout_latency_ms": latency,
        "fanout_equal_load_ms": equal_load,
        "fanout_server_cpu_ns_per_delivery": cpu("server_cpu_ns_per_delivery"),
        "fanout_generator_cpu_ns_per_delivery": cpu("generator_cpu_ns_per_delivery"),
        "fanout_stored": {
            "delivered_per_s": stored_rate,
            "over_ceiling": stored_over_ceiling,
            "p50_ms": stored["half_load"]["latency"]["p50_ms"],
            "p99_ms": stored_p99,
            "server_cpu_ns_per_delivery": stored["server_cpu_ns_per_delivery"],
        },
        "fanout_tunnels": {
            "delivered_per_s": tunnels["delivered_per_s"],
            "over_ceiling": tunnels_over_ceiling,
            "p50_ms": tunnels["half_load"]["latency"]["p50_ms"],
            "p99_ms": tunnels["half_load"]["latency"]["p99_ms"],
            "server_cpu_ns_per_delivery": tunnels["server_cpu_ns_per_delivery"],
        },
        "ratios": {
            "fanout_cometa_over_ceiling": over_ceiling,
            "fanout_stored_cometa_over_ceiling": stored_over_ceiling,
            "fanout_tunnels_cometa_over_ceiling": tunnels_over_ceiling,
            "fanout_cometa_over_socketio": over_socketio,
        },
        "idle": {
            "connections": idle_cometa["connections"],
            "rss_bytes_per_connection": rss,
            "requested": idle_cometa["requested"],
            "nofile_limit": idle_cometa["nofile_limit"],
            "by_peer": m["idle"],
        },
        "storm": per_peer(&m["storm"], &|v| json!({
            "connections": v["connected"], "seconds": v["seconds"], "failed": v["failed"],
        })),
        "personal": per_peer(&m["personal"], &|v| json!({
            "delivered_per_s": v["delivered_per_s"],
            "p50_ms": v["latency"]["p50_ms"],
            "p99_ms": v["latency"]["p99_ms"],
            "lost": v["lost"],
        })),
        "durable_publish": {
            "publishes_per_s": m["durable_publish"]["cometa"]["publishes_per_s"],
            "p50_ms": m["durable_publish"]["cometa"]["api_latency"]["p50_ms"],
            "p99_ms": m["durable_publish"]["cometa"]["api_latency"]["p99_ms"],
            "publishers": plan.publishers,
        },
        "targets": [
            target("fan-out vs ceiling", ">= 0.7x", &over_ceiling, at_least(&over_ceiling, 0.7)),
            target("fan-out vs socket.io", ">= 5x", &over_socketio, at_least(&over_socketio, 5.0)),
            target("relay RSS per idle connection", "<= 12 KiB", rss, at_most(rss, 12.0 * 1024.0)),
            target(&p99_goal, "<= 10 ms", p99, at_most(p99, 10.0)),
            target("stored channel: fan-out vs ceiling", ">= 0.7x", &stored_over_ceiling, at_least(&stored_over_ceiling, 0.7)),
            target("stored channel: fan-out p99 at half load", "<= 10 ms", stored_p99, at_most(stored_p99, 10.0)),
        ],
        "median": m,
        "raw_runs": runs,
    })
}

fn fmt(v: &Value, unit: &str) -> String {
    match num(v) {
        Some(x) if x >= 100.0 => format!("{}{unit}", group(x.round() as u64)),
        Some(x) => format!("{x:.2}{unit}"),
        None if v.is_null() => "–".into(),
        None => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

/// 1234567 → "1 234 567".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

fn markdown(plan: &Plan, s: &Value) -> String {
    let mut md = String::new();
    let m = &s["machine"];
    let v = &s["versions"];
    let peers = ["cometa", "socketio", "ceiling"];
    let _ = writeln!(md, "# Cometa benchmark results\n");
    let _ = writeln!(
        md,
        "Written by `scripts/bench.sh`{}; medians of {} run(s). All load on loopback, \
         generator and servers on the same machine.\n",
        if plan.smoke {
            " --smoke (tiny sizes: not figures to quote)"
        } else {
            ""
        },
        s["runs"]
    );
    let _ = writeln!(md, "| machine | |\n|---|---|");
    let _ = writeln!(md, "| CPUs (nproc) | {} |", m["nproc"]);
    let _ = writeln!(md, "| CPU model | {} |", m["cpu"].as_str().unwrap_or("?"));
    let _ = writeln!(md, "| memory | {} GiB |", m["memory_gib"]);
    let _ = writeln!(md, "| OS | {} |", m["os"].as_str().unwrap_or("?"));
    for (k, label) in [
        ("rustc", "rustc"),
        ("node", "Node"),
        ("socket.io", "socket.io"),
        ("relay", "relay"),
    ] {
        let _ = writeln!(md, "| {label} | {} |", v[k].as_str().unwrap_or("?"));
    }
    let sz = &s["sizes"];
    let _ = writeln!(
        md,
        "\n## Side by side\n\nFan-out to {} subscribers, personal messages to {} users from {} \
         HTTP clients, a storm of {} connections.\n",
        sz["fanout_subscribers"], sz["personal_users"], sz["publishers"], sz["storm_connections"]
    );
    let _ = writeln!(
        md,
        "| figure | cometa | socket.io | ceiling | cometa/ceiling | cometa/socket.io |\n|---|---|---|---|---|---|"
    );
    let row = |md: &mut String, label: &str, cells: [Value; 3], unit: &str| {
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} |",
            fmt(&cells[0], unit),
            fmt(&cells[1], unit),
            fmt(&cells[2], unit),
            fmt(&ratio(&cells[0], &cells[2]), "×"),
            fmt(&ratio(&cells[0], &cells[1]), "×"),
        );
    };
    let cells = |f: &dyn Fn(&str) -> Value| peers.map(f);
    row(
        &mut md,
        "fan-out: delivered msg/s at saturation",
        cells(&|p| s["fanout"][p].clone()),
        "",
    );
    // Latency at the same offered load for every peer (a peer's own half load would compare
    // each one at a different load).
    let loads: Vec<(String, Value)> = s["fanout_equal_load_ms"]["cometa"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v["delivered_per_s"].clone()))
        .collect();
    for (key, rate) in &loads {
        let what = if key == "socketio_half" {
            format!("{} deliveries/s (socket.io's half load)", fmt(rate, ""))
        } else {
            format!("{} deliveries/s", fmt(rate, ""))
        };
        for q in ["p50", "p99"] {
            row(
                &mut md,
                &format!("fan-out {q} at {what} (ms)"),
                cells(&|p| {
                    let c = &s["fanout_equal_load_ms"][p][key.as_str()];
                    if c["over_capacity"].as_bool() == Some(true) {
                        json!("over capacity")
                    } else {
                        c[q].clone()
                    }
                }),
                "",
            );
        }
    }
    for (at, label) in [
        ("saturation", "at saturation"),
        ("half_load", "at half load"),
    ] {
        row(
            &mut md,
            &format!("fan-out: server CPU per delivery {label} (ns)"),
            cells(&|p| s["fanout_server_cpu_ns_per_delivery"][p][at].clone()),
            "",
        );
    }
    row(
        &mut md,
        "personal (stored, to Wafer tunnels): delivered msg/s",
        cells(&|p| s["personal"][p]["delivered_per_s"].clone()),
        "",
    );
    row(
        &mut md,
        "personal p99 (ms)",
        cells(&|p| s["personal"][p]["p99_ms"].clone()),
        "",
    );
    row(
        &mut md,
        "connect storm: seconds until all ready",
        cells(&|p| s["storm"][p]["seconds"].clone()),
        "",
    );
    let idle = &s["idle"];
    let _ = writeln!(
        md,
        "\n## Relay alone\n\n| figure | value |\n|---|---|\n\
         | idle connections held | {} (asked {}, open-files limit {}) |\n\
         | relay RSS per idle connection | {} bytes |\n\
         | fan-out to a stored channel (fsync before send) | {} msg/s ({}× ceiling); at half load p50 {} ms, p99 {} ms |\n\
         | fan-out to Wafer tunnels (`/api/v1/broadcast`) | {} msg/s ({}× ceiling); at half load p50 {} ms, p99 {} ms |\n\
         | durable publish (API, {} clients) | {} /s, p50 {} ms, p99 {} ms |",
        fmt(&idle["connections"], ""),
        fmt(&idle["requested"], ""),
        fmt(&idle["nofile_limit"], ""),
        fmt(&idle["rss_bytes_per_connection"], ""),
        fmt(&s["fanout_stored"]["delivered_per_s"], ""),
        fmt(&s["fanout_stored"]["over_ceiling"], ""),
        fmt(&s["fanout_stored"]["p50_ms"], ""),
        fmt(&s["fanout_stored"]["p99_ms"], ""),
        fmt(&s["fanout_tunnels"]["delivered_per_s"], ""),
        fmt(&s["fanout_tunnels"]["over_ceiling"], ""),
        fmt(&s["fanout_tunnels"]["p50_ms"], ""),
        fmt(&s["fanout_tunnels"]["p99_ms"], ""),
        s["durable_publish"]["publishers"],
        fmt(&s["durable_publish"]["publishes_per_s"], ""),
        fmt(&s["durable_publish"]["p50_ms"], ""),
        fmt(&s["durable_publish"]["p99_ms"], ""),
    );
    let _ = writeln!(
        md,
        "\n## Targets (reported, not enforced)\n\n| target | goal | value | met |\n|---|---|---|---|"
    );
    for t in s["targets"].as_array().into_iter().flatten() {
        let met = match t["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "–",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {met} |",
            t["name"].as_str().unwrap_or("?"),
            t["target"].as_str().unwrap_or("?"),
            fmt(&t["value"], "")
        );
    }
    md.push_str(HOW);
    md
}

const HOW: &str = "
## How these are measured

- **Fan-out**: every client subscribes to one channel (relay: a native connection at
  `/connect` subscribed to `bench`, `--fanout-via broadcast` for Wafer tunnels instead;
  socket.io: a socket in one room; ceiling: a socket). The back end publishes over HTTP
  (relay: `POST /api/v1/channels/bench/messages`, where `bench` is set live-only — history
  length 0, nothing stored — because the peers store nothing either; socket.io:
  `io.to(room).emit`; ceiling: the body verbatim) at a rate that doubles
  every step, at most 64 publishes in flight; a step's
  delivered msg/s is deliveries ÷ (last receipt − first publish). The figure is the best step.
  Then every peer publishes at the same offered rates (`--latency-rates`, 30 000 and
  300 000 deliveries/s, and socket.io's own half load) and every delivery's publish → callback
  latency goes into an HDR histogram (the send time is the publish's *due* time, so a lagging
  publisher counts as latency); a rate above a peer's best is marked \"over capacity\", not
  run. The relay's own half load is also run (results.json, CPU at half load). The relay's sockets also subscribe to `stored_bench`, a channel as
  every channel is by default (each message stored with fsync before it is sent, seq,
  history, recovery); the same ramp (from an eighth of the live best) and latency run on it
  give the \"stored channel\" figures. The same ramp and latency run against Wafer tunnels
  (each client a tunnel from `/weapp/tunnel`, the back end publishing with
  `POST /api/v1/broadcast`) give the \"fan-out to Wafer tunnels\" figures.
- **CPU per delivery**: the server's CPU time (user + system, all threads, from
  `/proc/<pid>/stat` in 10 ms ticks) during a fan-out step, divided by the step's
  deliveries; \"at saturation\" is the best step's. results.json also has the generator's own
  figure: generator and server share the cores, so a heavy generator lowers every peer's
  throughput.
- **Personal**: one device per user (on the relay: a Wafer tunnel, which answers the relay's
  receipt Pings as every WebSocket stack does); concurrent HTTP clients send to random users
  as fast as answered. The relay stores every message (SQLite, fsync) before answering; the
  peers do not store anything.
- **Storm**: logins and tickets are fetched first; then every WebSocket connects at once; the
  time runs until each has done a round trip through the server.
- **Idle**: worker processes hold the sockets from separate 127.0.0.x source addresses;
  relay VmRSS after the connects minus VmRSS after the logins, per connection.
- **Durable publish**: personal messages to 10 000 offline users, default store (`full`).
- The relay runs with `RUST_LOG=warn`; in the fan-out scenario its per-tunnel queue is raised
  so overload shows as throughput, not as slow-consumer closes.
";
