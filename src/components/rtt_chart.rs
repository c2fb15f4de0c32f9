//! A small line chart of a socket's round-trip times over the last minutes, as inline
//! SVG (no chart library in the bundle).

use leptos::prelude::*;

/// How far back the chart looks.
const WINDOW_MS: f64 = 5.0 * 60_000.0;
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 80.0;

/// `history` is `(epoch ms, rtt ms)`, oldest first; `now_ms` is the chart's right edge.
#[component]
pub fn RttChart(history: Vec<(f64, f64)>, now_ms: f64) -> impl IntoView {
    let start = now_ms - WINDOW_MS;
    let recent: Vec<_> = history.into_iter().filter(|(t, _)| *t >= start).collect();
    let top = nice_ceiling(recent.iter().map(|(_, rtt)| *rtt).fold(0.0, f64::max));
    let point = |(t, rtt): &(f64, f64)| {
        let x = (t - start) / WINDOW_MS * WIDTH;
        let y = HEIGHT - rtt / top * HEIGHT;
        format!("{x:.1},{y:.1}")
    };
    let line = recent.iter().map(point).collect::<Vec<_>>().join(" ");
    let area = match (recent.first(), recent.last()) {
        (Some((first, _)), Some((last, _))) => {
            let x0 = (first - start) / WINDOW_MS * WIDTH;
            let x1 = (last - start) / WINDOW_MS * WIDTH;
            format!("{x0:.1},{HEIGHT} {line} {x1:.1},{HEIGHT}")
        }
        _ => String::new(),
    };
    let label = match recent.last() {
        Some((_, rtt)) => format!(
            "Round-trip time over the last 5 minutes: {} samples, latest {rtt:.0} ms, peak {:.0} ms",
            recent.len(),
            recent.iter().map(|(_, r)| *r).fold(0.0, f64::max)
        ),
        None => "Round-trip time over the last 5 minutes: no samples yet".to_owned(),
    };
    view! {
        <figure class="rtt-chart">
            <div class="rtt-scale" aria-hidden="true">
                <span>{format!("{top:.0} ms")}</span>
                <span>"0"</span>
            </div>
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="img"
                aria-label=label
            >
                <line class="rtt-grid" x1="0" x2=WIDTH y1=HEIGHT / 2.0 y2=HEIGHT / 2.0 />
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

/// The chart's top: the next of 10, 20, 50, 100, 200, … at or above `max`.
fn nice_ceiling(max: f64) -> f64 {
    let mut top = 10.0;
    while top < max {
        top *= if top.to_string().starts_with('2') {
            2.5
        } else {
            2.0
        };
    }
    top
}
