//! Running named steps with visible progress, and a summary of what each one took.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::Result;
use crate::error::Error;

/// Runs `command`, streaming its output, and fails with the step's name if it fails.
pub fn run(step: &str, command: &mut Command) -> Result<Duration> {
    println!("\n==> {step}");
    let start = Instant::now();
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command
        .current_dir(crate::root())
        .status()
        .map_err(|source| Error::Spawn { program, source })?;
    if status.success() {
        let took = start.elapsed();
        println!("==> {step}: ok in {:.1} s", took.as_secs_f64());
        Ok(took)
    } else {
        Err(Error::StepFailed {
            step: step.to_owned(),
            status: status.to_string(),
        })
    }
}

/// Runs a command quietly and gives back its standard output, or `None` when the program
/// is missing or fails: used to ask tools for their version.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A list of finished steps and their times, printed at the end of a run.
#[derive(Default)]
pub struct Timings(Vec<(String, Duration)>);

impl Timings {
    pub fn run(&mut self, step: &str, command: &mut Command) -> Result {
        let took = run(step, command)?;
        self.0.push((step.to_owned(), took));
        Ok(())
    }

    pub fn record(&mut self, step: &str, took: Duration) {
        self.0.push((step.to_owned(), took));
    }

    pub fn print(&self) {
        println!("\nsteps:");
        for (step, took) in &self.0 {
            println!("  {:>7.1} s  {step}", took.as_secs_f64());
        }
        let total: Duration = self.0.iter().map(|(_, took)| *took).sum();
        println!("  {:>7.1} s  in all", total.as_secs_f64());
    }
}
