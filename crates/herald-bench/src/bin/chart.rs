//! `herald-chart`: draws the fan-out charts of `docs/benchmarks.md` from the JSON lines that
//! `herald-bench --json` prints (one run per line; other lines are skipped).
//!
//! ```sh
//! herald-chart --out docs/img bench/results/fanout.jsonl
//! ```
//!
//! Runs with the same target, transport, body size and subscriber count are one point, at the
//! median of their figures. Two charts per body size: deliveries per second against
//! subscribers, and p99 publish→receive latency against subscribers, one line per target and
//! transport.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::prelude::*;

/// One point's key: (target, transport, size in bytes, subscribers).
type Key = (String, String, u64, u64);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = PathBuf::from(".");
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().ok_or("--out needs a folder")?.into(),
            "-h" | "--help" => {
                println!("usage: herald-chart [--out DIR] RESULTS.jsonl...");
                return Ok(());
            }
            _ => inputs.push(PathBuf::from(arg)),
        }
    }
    if inputs.is_empty() {
        return Err("give one or more files of `herald-bench --json` lines".into());
    }
    let mut runs: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
    for input in &inputs {
        let text = std::fs::read_to_string(input)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
        for line in text.lines() {
            let Ok(run) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (
                Some(target),
                Some(transport),
                Some(size),
                Some(subscribers),
                Some(rate),
                Some(p99),
            ) = (
                run["target"].as_str(),
                run["transport"].as_str(),
                run["size"].as_u64(),
                run["subscribers"].as_u64(),
                run["deliveries_per_second"].as_f64(),
                run["p99_ms"].as_f64(),
            )
            else {
                continue;
            };
            runs.entry((target.into(), transport.into(), size, subscribers))
                .or_default()
                .push((rate, p99));
        }
    }
    if runs.is_empty() {
        return Err("no herald-bench runs in the input".into());
    }
    std::fs::create_dir_all(&out)?;
    let mut sizes: Vec<u64> = runs.keys().map(|k| k.2).collect();
    sizes.dedup();
    for size in sizes {
        let series = |pick: fn(&(f64, f64)) -> f64| -> BTreeMap<String, Vec<(f64, f64)>> {
            let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for ((target, transport, s, subscribers), figures) in &runs {
                if *s != size {
                    continue;
                }
                let values: Vec<f64> = figures.iter().map(pick).filter(|v| v.is_finite()).collect();
                if let Some(value) = median(values) {
                    series
                        .entry(format!("{target} {transport}"))
                        .or_default()
                        .push((*subscribers as f64, value));
                }
            }
            series
        };
        let throughput = out.join(format!("fanout-throughput-{size}b.svg"));
        draw(
            &throughput,
            &format!("Fan-out, {size} B events: deliveries per second"),
            "deliveries/s",
            &series(|r| r.0),
        )?;
        let latency = out.join(format!("fanout-p99-{size}b.svg"));
        draw(
            &latency,
            &format!("Fan-out, {size} B events: p99 publish-to-receive latency"),
            "p99 latency (ms)",
            &series(|r| r.1),
        )?;
        println!("wrote {} and {}", throughput.display(), latency.display());
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// A log-log line chart of `series` (name → (subscribers, value)).
fn draw(
    path: &std::path::Path,
    title: &str,
    y_label: &str,
    series: &BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let points = series.values().flatten();
    let (x_min, x_max) = points.clone().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = points.fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25).log_scale(),
            (y_min.max(1e-3) * 0.5..y_max * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("subscribers")
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| short(*y))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba().stroke_width(2);
        let mut points = points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), color))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// 1234567 → "1.2M", 25000 → "25k", 0.5 → "0.5".
fn short(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.0}k", v / 1e3),
        v if v >= 1.0 => format!("{v:.0}"),
        v => format!("{v:.2}"),
    }
}
