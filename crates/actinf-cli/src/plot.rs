//! PNG plots of a run: beliefs, policy posterior and free energy over time.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// A time series to draw as a line.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// One value per step.
    pub values: Vec<f64>,
}

/// Draw three stacked panels: belief lines, a policy-posterior heat map
/// (policies × steps), and free energy per step.
pub fn beliefs_policies_free_energy(
    path: &Path,
    title: &str,
    beliefs: &[Series],
    q_pi: &[Vec<f64>],
    free_energy: &[f64],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 24))
        .map_err(|e| err(&e))?;
    let panels = root.split_evenly((3, 1));
    let steps = free_energy.len().max(1);

    // Beliefs.
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("posterior beliefs", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..(steps as f64 - 1.0).max(1.0), 0f64..1.0)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("probability")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in beliefs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.values.iter().enumerate().map(|(t, &v)| (t as f64, v)),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;

    // Policy posterior heat map.
    let num_policies = q_pi.first().map_or(1, |q| q.len());
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("policy posterior q(π)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..steps, 0..num_policies)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("step")
        .y_desc("policy")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(q_pi.iter().enumerate().flat_map(|(t, q)| {
            q.iter().enumerate().map(move |(p, &v)| {
                let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                Rectangle::new(
                    [(t, p), (t + 1, p + 1)],
                    RGBColor(shade, shade, 255).filled(),
                )
            })
        }))
        .map_err(|e| err(&e))?;

    // Free energy.
    let lo = free_energy.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = free_energy
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let mut chart = ChartBuilder::on(&panels[2])
        .caption("variational free energy", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..(steps as f64 - 1.0).max(1.0), (lo - pad)..(hi + pad))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("F (nats)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            free_energy.iter().enumerate().map(|(t, &v)| (t as f64, v)),
            RED.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            free_energy
                .iter()
                .enumerate()
                .map(|(t, &v)| Circle::new((t as f64, v), 3, RED.filled())),
        )
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One estimated trajectory with its 90% confidence band and, optionally,
/// the true trajectory.
pub struct Trajectory<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Conditional expectation per sample.
    pub estimate: Vec<f64>,
    /// Conditional standard deviation (constant over samples).
    pub sd: f64,
    /// The truth, when known.
    pub truth: Option<Vec<f64>>,
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type Fail<'a> = &'a dyn Fn(&dyn std::fmt::Display) -> anyhow::Error;

/// Draw trajectories with their confidence bands (±1.645 sd) above a panel
/// of the free energy per sample.
pub fn trajectories_and_free_energy(
    path: &Path,
    title: &str,
    trajectories: &[Trajectory],
    free_energy: &[f64],
) -> Result<()> {
    trajectories_above_line(
        path,
        title,
        (trajectories, free_energy.len()),
        ("free energy per sample", "sample"),
        free_energy,
    )
}

/// Draw trajectories with their confidence bands (±1.645 sd) above a panel
/// of the free energy per iteration of a learning scheme (DEM).
pub fn trajectories_and_learning_curve(
    path: &Path,
    title: &str,
    trajectories: &[Trajectory],
    free_energy: &[f64],
) -> Result<()> {
    let samples = trajectories.first().map_or(2, |t| t.estimate.len());
    trajectories_above_line(
        path,
        title,
        (trajectories, samples),
        ("free energy per iteration", "iteration"),
        free_energy,
    )
}

/// Trajectories over `samples` samples above a panel of `free_energy`
/// captioned `caption` along `x_desc`.
fn trajectories_above_line(
    path: &Path,
    title: &str,
    (trajectories, samples): (&[Trajectory], usize),
    (caption, x_desc): (&str, &str),
    free_energy: &[f64],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 24))
        .map_err(|e| err(&e))?;
    let (upper, lower) = root.split_vertically(520);
    draw_trajectories(&upper, trajectories, samples, &err)?;
    draw_line(&lower, caption, (x_desc, "F (nats)"), free_energy, &err)?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draw trajectories against their truth (with confidence bands where their
/// sd is positive) above a panel of the tracking error per sample (e.g. the
/// RMS over states of estimate − truth) and one of the free energy per
/// sample.
pub fn tracking_error(
    path: &Path,
    title: &str,
    trajectories: &[Trajectory],
    error: &[f64],
    free_energy: &[f64],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1000, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 24))
        .map_err(|e| err(&e))?;
    let (upper, rest) = root.split_vertically(480);
    let (middle, lower) = rest.split_vertically(240);
    draw_trajectories(&upper, trajectories, error.len(), &err)?;
    draw_line(
        &middle,
        "tracking error per sample (RMS over states)",
        ("sample", "error"),
        error,
        &err,
    )?;
    draw_line(
        &lower,
        "free energy per sample",
        ("sample", "F (nats)"),
        free_energy,
        &err,
    )?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The trajectories panel: estimates with their 90% bands and dashed truths.
fn draw_trajectories(
    area: &Area,
    trajectories: &[Trajectory],
    samples: usize,
    err: Fail,
) -> Result<()> {
    let steps = samples.max(2);
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for tr in trajectories {
        for (i, &m) in tr.estimate.iter().enumerate() {
            let t = tr.truth.as_ref().map_or(m, |x| x[i]);
            lo = lo.min(m - 1.645 * tr.sd).min(t);
            hi = hi.max(m + 1.645 * tr.sd).max(t);
        }
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let caption = if trajectories.iter().any(|t| t.sd > 0.0) {
        "states: estimate (90% band) and truth (dashed)"
    } else {
        "states: estimate (solid) and truth (dashed)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..(steps - 1) as f64, (lo - pad)..(hi + pad))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("sample")
        .draw()
        .map_err(|e| err(&e))?;
    for (k, tr) in trajectories.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        if tr.sd > 0.0 {
            let band: Vec<(f64, f64)> = tr
                .estimate
                .iter()
                .enumerate()
                .map(|(t, &m)| (t as f64, m + 1.645 * tr.sd))
                .chain(
                    tr.estimate
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(t, &m)| (t as f64, m - 1.645 * tr.sd)),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(LineSeries::new(
                tr.estimate.iter().enumerate().map(|(t, &m)| (t as f64, m)),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(tr.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        if let Some(truth) = &tr.truth {
            chart
                .draw_series(DashedLineSeries::new(
                    truth.iter().enumerate().map(|(t, &x)| (t as f64, x)),
                    6,
                    4,
                    color.stroke_width(1),
                ))
                .map_err(|e| err(&e))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}

/// A panel with one red line of `values` per sample.
fn draw_line(
    area: &Area,
    caption: &str,
    (x_desc, y_desc): (&str, &str),
    values: &[f64],
    err: Fail,
) -> Result<()> {
    let steps = values.len().max(2);
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..(steps - 1) as f64, (lo - pad)..(hi + pad))
        .map_err(|e| err(&e))?;
    let scientific = |v: &f64| format!("{v:.1e}");
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc).y_desc(y_desc);
    if lo.abs().max(hi.abs()) >= 1e4 {
        // Long numbers would run off the label area.
        mesh.y_label_formatter(&scientific);
    }
    mesh.draw().map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            values.iter().enumerate().map(|(t, &v)| (t as f64, v)),
            RED.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    Ok(())
}
