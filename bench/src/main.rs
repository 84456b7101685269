//! `pcmeter-bench`: measures the meter against the raw limits of the machine
//! in one run and writes docs/BENCHMARKS.md (DESIGN.md §7, issue 14).
//!
//! Run: `cargo run --release -p bench --bin pcmeter-bench -- [--quick] [--write docs/BENCHMARKS.md]`
//!
//! Without `--write` the report goes to stdout. Every row is a figure, its
//! same-run limit, the ratio and the target; a row whose target is missed
//! (or that could not be measured) must have a reason in `bench/reasons.toml`,
//! or the run exits non-zero after writing the report.

mod card_bench;
mod durable_bench;
mod external;
mod heap;
mod labels;
mod pcsc_bench;
mod report;
mod scale;

use card_sim::Engine;
use report::{Row, Target};
use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

/// The in-process and durable targets (DESIGN.md §7).
const IN_PROCESS: Target = Target::RatioAtLeast(0.85);
const DURABLE: Target = Target::RatioAtMost(1.15);
const PCSC: Target = Target::RatioAtMost(1.25);
const AUTHORITY: Target = Target::RatioAtLeast(0.5);
const LABELS: Target = Target::RatioAtLeast(0.5);
const HEAP: Target = Target::Below(16_384.0);
const IMAGE: Target = Target::Below(65_536.0);

struct Args {
    quick: bool,
    write: Option<PathBuf>,
    skip: Vec<String>,
}

fn args() -> Args {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args { quick: false, write: None, skip: Vec::new() };
    let mut it = all.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--write" => a.write = it.next().map(PathBuf::from),
            // For development only: leaves a section out (its rows become errors).
            "--skip" => a.skip.extend(it.next()),
            other => {
                eprintln!("unknown argument {other}: [--quick] [--write FILE] [--skip SECTION]");
                std::process::exit(2);
            }
        }
    }
    a
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn main() {
    let args = args();
    let quick = args.quick;
    let root = root();
    let skipped = |s: &str| args.skip.iter().any(|x| x == s);
    let load_before = external::load();
    let started = std::time::Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let n = if quick { 500 } else { 5_000 };
    let runs = if quick { 2 } else { 5 };

    // 1. In process, memory store, per engine.
    eprintln!("in process …");
    let per_engine: Vec<card_bench::InProcess> =
        Engine::compiled().iter().map(|&e| card_bench::in_process(e, n, runs, if quick { 4 } else { 20 })).collect();
    let fastest = per_engine.iter().fold(None::<&card_bench::InProcess>, |best, e| match best {
        Some(b) if b.sign >= e.sign => Some(b),
        _ => Some(e),
    });
    for e in &per_engine {
        rows.push(Row::new(format!("sign.{}", e.engine), format!("raw P-256 sign, {} engine", e.engine), e.sign, "/s"));
    }
    for e in &per_engine {
        let name = e.engine.name();
        let own = format!("raw {name} sign");
        for (id, what, v) in [
            ("indicia", "indicia (PRINT INDICIUM: APDU + state + commit + audit + sign)", e.indicia),
            ("postmarks", "postmarks of a 32-byte digest (TSTInfo + signed attributes + commit + sign)", e.postmarks),
        ] {
            rows.push(
                Row::new(format!("{id}.memory.{name}"), format!("{what}, in process, memory store, {name}"), v, "/s")
                    .against(&own, e.sign)
                    .target(IN_PROCESS),
            );
            if let Some(f) = fastest.filter(|f| f.engine != e.engine) {
                rows.push(
                    Row::new(
                        format!("{id}.memory.{name}.vs-fastest"),
                        format!("{what}, in process, memory store, {name}, against the fastest engine"),
                        v,
                        "/s",
                    )
                    .against(format!("raw {} sign", f.engine), f.sign)
                    .target(IN_PROCESS),
                );
            }
        }
        rows.push(
            Row::new(
                format!("postmarks-1mib.memory.{name}"),
                format!(
                    "postmarks of 1 MiB hashed on the card (HASH start + 128 × 8 KiB + POSTMARK), memory store, {name}"
                ),
                e.postmarks_mib,
                "/s",
            )
            .against(
                format!("1 / (1/sign + 1/SHA-256 of 1 MiB), {name} (SHA-256 alone {:.0}/s)", e.hash_mib),
                1.0 / (1.0 / e.sign + 1.0 / e.hash_mib),
            ),
        );
    }

    // 2. Durable journal store, per engine.
    for &engine in Engine::compiled() {
        if skipped("durable") {
            rows.push(Row::error(
                format!("indicia.durable.{engine}"),
                "durable section",
                "skipped with --skip durable",
            ));
            continue;
        }
        eprintln!("durable, {engine} …");
        let d = durable_bench::run(
            engine,
            &root.join("target"),
            if quick { 300 } else { 2_000 },
            if quick { 2 } else { 3 },
        );
        let name = engine.name();
        rows.push(Row::new(
            format!("fdatasync.{name}"),
            format!("raw 4 KiB pwrite + fdatasync (target/'s file system; measured beside {name})"),
            d.sync_us,
            "µs",
        ));
        rows.push(Row::new(
            format!("sign-sync.{name}"),
            format!("raw {name} sign then 4 KiB pwrite + fdatasync, back to back"),
            d.pair_us,
            "µs",
        ));
        let pair = format!("sign + fdatasync, {name}");
        rows.push(
            Row::new(
                format!("indicia.durable.{name}"),
                format!("time per indicium, durable journal store, {name}"),
                d.indicium_us,
                "µs",
            )
            .against(&pair, d.pair_us)
            .target(DURABLE),
        );
        rows.push(
            Row::new(
                format!("postmarks.durable.{name}"),
                format!("time per digest postmark, durable journal store, {name}"),
                d.postmark_us,
                "µs",
            )
            .against(&pair, d.pair_us)
            .target(DURABLE),
        );
        rows.push(
            Row::new(
                format!("postmarks-1mib.durable.{name}"),
                format!("time per 1 MiB postmark hashed on the card, durable journal store, {name}"),
                d.postmark_mib_us,
                "µs",
            )
            .against(format!("sign + fdatasync + SHA-256 of 1 MiB, {name}"), d.pair_us + d.hash_mib_us),
        );
    }

    // 3. Through pcscd + vpcd beside an echo card.
    if !Path::new("/usr/sbin/pcscd").exists() || skipped("pcsc") {
        rows.push(Row::error(
            "pcsc",
            "pcscd + vpcd",
            "pcscd is not installed (scripts/test.sh installs it) or --skip pcsc",
        ));
    } else {
        eprintln!("pcscd + vpcd …");
        let indicium_in_process = per_engine.iter().find(|e| e.engine == Engine::Soft).map_or(0.0, |e| e.indicia);
        let indicium_work = std::time::Duration::from_secs_f64(1.0 / indicium_in_process.max(1.0));
        for (i, c) in pcsc_bench::run(if quick { 300 } else { 2_000 }, indicium_work).iter().enumerate() {
            if let Some(computing) = c.computing_echo {
                // The control: the same stack and sizes, a card that only computes for the indicium's time.
                rows.push(
                    Row::new(
                        "pcsc.computing-echo",
                        "pcscd + vpcd, echo card that computes for the in-process indicium time (soft) before its 126-byte answer: µs per round trip",
                        1e6 / computing,
                        "µs",
                    )
                    .against("echo card, same sizes + in-process indicium (soft)", 1e6 / c.echo + 1e6 / indicium_in_process),
                );
            }
            let (id, limit, extra) = if c.label == pcsc_bench::INDICIUM {
                // The meter's time is the echo card's round trip plus the card's own work
                // (the in-process indicium, soft engine): the target bounds the stack's overhead.
                ("pcsc.indicium".to_string(), 1e6 / c.echo + 1e6 / indicium_in_process, " + in-process indicium (soft)")
            } else {
                (format!("pcsc.case{i}"), 1e6 / c.echo, "")
            };
            rows.push(
                Row::new(
                    id,
                    format!("pcscd + vpcd, {}: µs per round trip (one APDU), meter card", c.label),
                    1e6 / c.meter,
                    "µs",
                )
                .against(format!("echo card, same sizes{extra}"), limit)
                .target(PCSC),
            );
        }
    }

    // 4. Labels beside the indicium rate of the same run.
    if skipped("labels") {
        rows.push(Row::error("labels.pdf", "labels", "skipped with --skip labels"));
    } else {
        eprintln!("labels …");
        let l = labels::run(if quick { 1_000 } else { 10_000 }, &root.join("target"));
        let limit = "indicia through host-driver, same meter";
        rows.push(Row::new(
            "indicia.host",
            "indicia through host-driver `Meter` (typed API, in-process transport, soft)",
            l.indicia,
            "/s",
        ));
        rows.push(
            Row::new(
                "labels.pdf",
                format!(
                    "labels to PDF: {} charged indicia → A4 label sheets (`pcmeter::label::bench::pdf`, the batch's layout)",
                    l.n
                ),
                l.pdf,
                "/s",
            )
            .against(limit, l.indicia)
            .target(LABELS),
        );
        rows.push(
            Row::new(
                "labels.batch",
                format!(
                    "mail-room batch: `pcmeter::batch::run`, {} CSV rows → charged indicia → A4 sheet PDF, each row \
                     journaled durably before and after its charge",
                    l.n
                ),
                l.batch,
                "/s",
            )
            .against(limit, l.indicia),
        );
        rows.push(
            Row::new(
                "labels.png",
                format!("labels to PNG: indicium + one PNG label (`pcmeter::label::bench::png`), {} labels", l.n),
                l.png,
                "/s",
            )
            .against(limit, l.indicia),
        );
    }

    // 5. Memory: every command's peak heap, the full image, code size.
    eprintln!("heap per APDU …");
    for p in heap::per_command() {
        let id = format!("heap.{}", p.spec.slug);
        let what = format!("peak heap, {} (INS {:02X})", p.spec.name, p.spec.ins);
        if p.sw == 0x9000 || p.sw >> 8 == 0x61 {
            rows.push(Row::new(id, what, p.bytes as f64, "B").target(HEAP));
        } else {
            rows.push(Row::error(id, what, format!("the card answered {:04X}", p.sw)));
        }
    }
    let (image, table_len, table_peak) = heap::full_image();
    rows.push(
        Row::new(
            "heap.update-rates.full",
            format!("peak heap, UPDATE RATES of a full table (16 classes × 16 breaks, {table_len} B signed)"),
            table_peak as f64,
            "B",
        )
        .target(HEAP),
    );
    rows.push(
        Row::new(
            "image.full",
            "persistent image: 8 certified slots, full rate table, 64 audit records",
            image as f64,
            "B",
        )
        .target(IMAGE),
    );
    if skipped("code") {
        rows.push(Row::error("code.card-core", "card-core code size", "skipped with --skip code"));
    } else {
        eprintln!("card-core code size (nostd-check release build) …");
        match external::code_size(&root) {
            Ok((text, _)) => rows.push(Row::new(
                "code.card-core",
                "card-core + apdu-specs + soft crypto linked into `nostd-check` (release, x86_64): text",
                text as f64,
                "B",
            )),
            Err(e) => rows.push(Row::error("code.card-core", "card-core code size", e.to_string())),
        }
    }

    // 6. The authority, as a child process.
    let mut authority_runs = Vec::new();
    if skipped("authority") {
        rows.push(Row::error("authority", "authority load test", "skipped with --skip authority"));
    } else {
        eprintln!("authority-load --json …");
        match external::authority_load(&root, quick)
            .map_err(|e| e.to_string())
            .and_then(|out| report::parse_authority(&out).map_err(|e| e.to_string()))
        {
            Ok(runs) => {
                for r in &runs {
                    let db = &r.database;
                    rows.push(Row::new(
                        format!("authority.{db}.commits"),
                        format!("raw 1-row commits, {db}"),
                        r.raw_commits_per_s,
                        "/s",
                    ));
                    rows.push(
                        Row::new(
                            format!("authority.{db}.recharges"),
                            format!(
                                "recharges ({} in the run, {} storage threads), {db}",
                                r.recharges, r.store_threads
                            ),
                            r.recharges_per_s,
                            "/s",
                        )
                        .against(format!("raw {db} commits"), r.raw_commits_per_s)
                        .target(AUTHORITY),
                    );
                    rows.push(
                        Row::new(
                            format!("authority.{db}.settlements"),
                            format!("payment settlements ({} in the run), {db}", r.settlements),
                            r.settlements_per_s,
                            "/s",
                        )
                        .against(format!("raw {db} commits"), r.raw_commits_per_s),
                    );
                }
                authority_runs = runs;
            }
            Err(e) => {
                for db in ["sqlite", "postgresql"] {
                    rows.push(Row::error(format!("authority.{db}.recharges"), format!("recharges/s, {db}"), e.clone()));
                }
            }
        }
    }

    // The report.
    let reasons_path = root.join("bench/reasons.toml");
    let reasons = match std::fs::read_to_string(&reasons_path)
        .map_err(|e| e.to_string())
        .and_then(|t| report::parse_reasons(&t).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", reasons_path.display());
            std::process::exit(1);
        }
    };
    let command = format!(
        "cargo run --release -p bench --bin pcmeter-bench --{}{}",
        if quick { " --quick" } else { "" },
        args.write.as_ref().map_or(String::new(), |p| format!(" --write {}", p.display()))
    );
    let header = Header {
        machine: external::machine(),
        date: external::now(),
        commit: external::commit(&root),
        command,
        load: format!("{load_before} before, {} after", external::load()),
        seconds: started.elapsed().as_secs(),
        quick,
    };
    let scale = scale::notes(&scale::Figures::from_rows(&rows, &authority_runs));
    let text = document(&header, &rows, &reasons, &scale);
    match &args.write {
        Some(path) => {
            let path = if path.is_absolute() { path.clone() } else { root.join(path) };
            if let Err(e) = std::fs::write(&path, &text) {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    let missing = report::unexplained(&rows, &reasons);
    if !missing.is_empty() {
        for r in &missing {
            eprintln!("row `{}` missed its target (or was not measured) and has no reason in bench/reasons.toml", r.id);
        }
        std::process::exit(1);
    }
}

struct Header {
    machine: String,
    date: String,
    commit: String,
    command: String,
    load: String,
    seconds: u64,
    quick: bool,
}

fn document(
    h: &Header,
    rows: &[Row],
    reasons: &std::collections::BTreeMap<String, report::Reason>,
    scale: &str,
) -> String {
    format!(
        "# PCMeter benchmarks\n\n\
<!-- Generated by pcmeter-bench: edit bench/src/ or bench/reasons.toml, not this file. -->\n\n\
Every figure is set against a raw limit measured **in the same run** on the same machine (DESIGN.md §7);\n\
absolute numbers on a shared machine are noisy, the ratios are what the targets bound. A row whose target\n\
is missed carries its profiled reason (from `bench/reasons.toml`); the harness exits non-zero when one has none.\n\
In-process rows (memory store) are timed in this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, best of the runs,\n\
the limit interleaved with the operation), so that other processes on the machine inflate neither; the durable,\n\
PC/SC, label and authority rows are wall-clock time (they wait for disks, sockets and other processes).\n\n\
- machine: {machine}\n\
- date: {date}\n\
- commit: `{commit}`\n\
- command: `{command}`{quick}\n\
- load average (1/5/15 min): {load}; the run took {secs} s\n\n\
Regenerate: `cargo run --release -p bench --bin pcmeter-bench -- --write docs/BENCHMARKS.md`\n\
(`--quick` for a short run; without `--write` the report goes to stdout). The authority rows come\n\
from `cargo run --release -p bench --bin authority-load -- --json` run as a child (a temporary PostgreSQL\n\
is started and stopped by it; loopback only, bounded in count and time), card-core's code size from\n\
`cd nostd-check && cargo build --release && size target/release/pcmeter-nostd-check`.\n\n\
## Results\n\n{table}\n\
## Reasons for the targets not met\n\n{reasons}\
## Scale notes\n\n{scale}\n\
## History\n\nEarlier hand-written runs, the authority's first load-test analysis and the code-size study of\n\
issue 11 are kept in [benchmarks-history.md](benchmarks-history.md).\n",
        machine = h.machine,
        date = h.date,
        commit = h.commit,
        command = h.command,
        quick = if h.quick { " (quick: fewer operations per figure, noisier)" } else { "" },
        load = h.load,
        secs = h.seconds,
        table = report::table(rows, reasons),
        reasons = report::reasons_section(rows, reasons),
    )
}
