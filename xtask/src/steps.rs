//! Running named steps with visible progress, and a summary of what each one took.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A step run in the background, its output in a log of its own, so that steps which
/// need nothing of each other overlap (on two cores, one build's serial stretches leave
/// room for another).
pub struct Background {
    step: String,
    child: Child,
    log: PathBuf,
    start: Instant,
}

impl Background {
    pub fn start(step: &str, command: &mut Command, log: &Path) -> Result<Self> {
        println!("==> {step} (log: {})", log.display());
        let file =
            std::fs::File::create(log).map_err(Error::io(format!("creating {}", log.display())))?;
        let errors = file
            .try_clone()
            .map_err(Error::io("sharing a step's log"))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .current_dir(crate::root())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(errors)
            .spawn()
            .map_err(|source| Error::Spawn { program, source })?;
        Ok(Self {
            step: step.to_owned(),
            child,
            log: log.to_owned(),
            start: Instant::now(),
        })
    }

    /// Waits for the step, saying every minute that it still runs; when it fails, shows
    /// the end of its log. Gives back how long it took from its start.
    pub fn finish(mut self) -> Result<Duration> {
        let step = &self.step;
        let mut next_note = 60;
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(Error::io(format!("waiting for {step}")))?
            {
                break status;
            }
            std::thread::sleep(Duration::from_millis(250));
            if self.start.elapsed().as_secs() >= next_note {
                println!("    still {step} ({next_note} s)");
                next_note += 60;
            }
        };
        if !status.success() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            for line in tail.into_iter().rev() {
                println!("    | {line}");
            }
            return Err(Error::StepFailed {
                step: step.clone(),
                status: status.to_string(),
            });
        }
        let took = self.start.elapsed();
        println!("==> {step}: ok in {:.1} s", took.as_secs_f64());
        Ok(took)
    }
}

/// A step left behind (a step after it failed) is stopped rather than left running.
impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // It may end by itself meanwhile; then there is nothing to stop.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

/// A list of finished steps and their times, printed at the end of a run with the time
/// since it was made (steps may have overlapped).
pub struct Timings {
    start: Instant,
    steps: Vec<(String, Duration)>,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            steps: Vec::new(),
        }
    }
}

impl Timings {
    pub fn run(&mut self, step: &str, command: &mut Command) -> Result {
        let took = run(step, command)?;
        self.steps.push((step.to_owned(), took));
        Ok(())
    }

    pub fn record(&mut self, step: &str, took: Duration) {
        self.steps.push((step.to_owned(), took));
    }

    /// The time since these timings began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn print(&self) {
        println!("\nsteps:");
        for (step, took) in &self.steps {
            println!("  {:>7.1} s  {step}", took.as_secs_f64());
        }
        println!("  {:>7.1} s  in all", self.elapsed().as_secs_f64());
    }
}
