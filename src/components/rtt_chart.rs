//! A small line chart of a socket's round-trip times over the last minutes, as inline
//! SVG (no chart library in the bundle).

use leptos::prelude::*;

/// How far back the chart looks.
const WINDOW_MS: f64 = 5.0 * 60_000.0;
/// The drawing's units: whole numbers on a fine grid, so no float formatting code joins
/// the bundle for it.
const WIDTH: f64 = 3000.0;
const HEIGHT: f64 = 800.0;

/// `history` is `(epoch ms, rtt ms)`, oldest first; `now_ms` is the chart's right edge.
#[component]
pub fn RttChart(history: Vec<(f64, f64)>, now_ms: f64) -> impl IntoView {
    let start = now_ms - WINDOW_MS;
    let recent: Vec<_> = history.into_iter().filter(|(t, _)| *t >= start).collect();
    let top = nice_ceiling(recent.iter().map(|(_, rtt)| *rtt).fold(0.0, f64::max));
    let x = |t: f64| ((t - start) / WINDOW_MS * WIDTH).round() as i64;
    let point = |(t, rtt): &(f64, f64)| {
        let y = (HEIGHT - rtt.min(top) / top * HEIGHT).round() as i64;
        format!("{},{y}", x(*t))
    };
    let line = recent.iter().map(point).collect::<Vec<_>>().join(" ");
    let bottom = HEIGHT as i64;
    let area = match (recent.first(), recent.last()) {
        (Some((first, _)), Some((last, _))) => {
            format!("{},{bottom} {line} {},{bottom}", x(*first), x(*last))
        }
        _ => String::new(),
    };
    let label = match recent.last() {
        Some((_, rtt)) => format!(
            "Round-trip time over the last 5 minutes: {} samples, latest {} ms, peak {} ms",
            recent.len(),
            whole_ms(*rtt),
            whole_ms(recent.iter().map(|(_, r)| *r).fold(0.0, f64::max))
        ),
        None => "Round-trip time over the last 5 minutes: no samples yet".to_owned(),
    };
    view! {
        <figure class="rtt-chart">
            <div class="rtt-scale" aria-hidden="true">
                <span>{format!("{} ms", whole_ms(top))}</span>
                <span>"0"</span>
            </div>
            <svg
                viewBox=format!("0 0 {} {bottom}", WIDTH as i64)
                preserveAspectRatio="none"
                role="img"
                aria-label=label
            >
                <line class="rtt-grid" x1="0" x2="3000" y1="400" y2="400" />
                <polygon class="rtt-area" points=area />
                <polyline class="rtt-line" points=line />
            </svg>
            <figcaption class="rtt-axis" aria-hidden="true">
                <span>"5 min ago"</span>
                <span>"now"</span>
            </figcaption>
        </figure>
    }
}

/// Milliseconds as a whole number for reading (sub-millisecond detail is noise here).
pub fn whole_ms(ms: f64) -> i64 {
    ms.round() as i64
}

/// The chart's top: the first of 10, 20, 50, 100, 200, 500, … at or above `max`.
fn nice_ceiling(max: f64) -> f64 {
    let mut top = 10.0;
    for step in [2.0, 2.5, 2.0].into_iter().cycle() {
        if top >= max {
            break;
        }
        top *= step;
    }
    top
}
