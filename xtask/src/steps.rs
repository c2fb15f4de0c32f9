//! Running named steps with visible progress, and a summary of what each one took.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
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
/// room for another). A thread notes when it ends, so that its time is its own even when
/// it is waited for later.
pub struct Background {
    step: String,
    child: Arc<Mutex<Child>>,
    log: PathBuf,
    start: Instant,
    ended: mpsc::Receiver<std::io::Result<(ExitStatus, Duration)>>,
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
        let start = Instant::now();
        let child = Arc::new(Mutex::new(child));
        let (tell, ended) = mpsc::channel();
        let watched = child.clone();
        std::thread::spawn(move || {
            let ended = loop {
                match lock(&watched).try_wait() {
                    Ok(Some(status)) => break Ok((status, start.elapsed())),
                    Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                    Err(error) => break Err(error),
                }
            };
            // Nobody listens once the step was given up.
            let _ = tell.send(ended);
        });
        Ok(Self {
            step: step.to_owned(),
            child,
            log: log.to_owned(),
            start,
            ended,
        })
    }

    /// Waits for the step, saying every minute that it still runs; when it fails, shows
    /// the end of its log. Gives back how long it took from its start to its end.
    pub fn finish(self) -> Result<Duration> {
        let step = &self.step;
        // The next whole minute of the step's time, however long it ran unwatched.
        let mut next_note = (self.start.elapsed().as_secs() / 60 + 1) * 60;
        let (status, took) = loop {
            match self.ended.recv_timeout(Duration::from_millis(250)) {
                Ok(ended) => break ended.map_err(Error::io(format!("waiting for {step}")))?,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.start.elapsed().as_secs() >= next_note {
                        println!("    still {step} ({next_note} s)");
                        next_note += 60;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Other(format!("lost track of {step}")));
                }
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
        println!("==> {step}: ok in {:.1} s", took.as_secs_f64());
        Ok(took)
    }
}

/// A step left behind (a step after it failed) is stopped rather than left running,
/// with what it started: a build's compilers would go on for minutes after their cargo.
impl Drop for Background {
    fn drop(&mut self) {
        let mut child = lock(&self.child);
        if matches!(child.try_wait(), Ok(None)) {
            // It may end by itself meanwhile; then there is nothing to stop.
            end_tree(&mut child);
        }
    }
}

/// Ends `child` and every process under it. Children stay in the terminal's process
/// group, so that Ctrl-C reaches them all; ending them from here means finding them.
/// Each one found is stopped first, so that none starts another unseen while the tree
/// is read; then all are killed.
pub fn end_tree(child: &mut Child) {
    let mut tree = vec![child.id()];
    signal("STOP", &tree);
    loop {
        let new: Vec<u32> = parents()
            .into_iter()
            .filter(|(pid, parent)| tree.contains(parent) && !tree.contains(pid))
            .map(|(pid, _)| pid)
            .collect();
        if new.is_empty() {
            break;
        }
        signal("STOP", &new);
        tree.extend(new);
    }
    signal("KILL", &tree);
    let _ = child.kill();
    let _ = child.wait();
}

/// Every process and its parent, from `/proc`.
fn parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (name) state ppid …`; the name may hold spaces and parentheses.
            let (_, rest) = stat.rsplit_once(')')?;
            let parent = rest.split_whitespace().nth(1)?.parse::<u32>().ok()?;
            Some((pid, parent))
        })
        .collect()
}

fn signal(name: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg("--")
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The child, even if a thread panicked holding it: it is a process handle, whole either
/// way.
fn lock(child: &Mutex<Child>) -> MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(PoisonError::into_inner)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a process started, and what that one started in turn (as trunk starts
    /// cargo, and cargo rustc), ends with it.
    #[test]
    fn ending_a_tree_ends_every_process_under_it() {
        let pid_file = std::env::temp_dir().join(format!("xtask-group-{}", std::process::id()));
        let _ = std::fs::remove_file(&pid_file);
        let mut leader = Command::new("sh")
            .arg("-c")
            .arg(format!(
                // Deaf to the hang-up a stopped process left without its parent may get.
                "sh -c 'trap \"\" HUP; sleep 600 & echo $! > {}; wait' & wait",
                pid_file.display()
            ))
            .spawn()
            .expect("sh");
        let started = Instant::now();
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
            {
                break pid;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "sleep started");
            std::thread::sleep(Duration::from_millis(20));
        };
        end_tree(&mut leader);
        // Running, not a zombie waiting for whoever adopted it to reap it.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        };
        let ended = Instant::now();
        while alive() && ended.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(&pid_file);
        let left = alive();
        if left {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        assert!(!left, "the grandchild was ended with its tree");
    }

    /// `script` run by `sh` as a background step named `step`.
    fn started(step: &str, script: &str) -> Background {
        let dir = crate::root().join("target/xtask");
        std::fs::create_dir_all(&dir).expect("target/xtask");
        let log = dir.join(format!("steps-test-{}.log", step.replace(' ', "-")));
        Background::start(step, Command::new("sh").args(["-c", script]), &log).expect("started")
    }

    #[test]
    fn a_background_step_is_timed_to_its_own_end_not_to_when_it_is_waited_for() {
        let step = started("a short step", "sleep 0.2");
        let waited = Duration::from_secs(5);
        std::thread::sleep(waited);
        let took = step.finish().expect("it succeeds");
        // Well under the wait, with room for starting a process on a busy machine.
        assert!(
            took >= Duration::from_millis(200) && took < waited - Duration::from_secs(2),
            "timed {took:?}"
        );
    }

    #[test]
    fn a_failed_background_step_fails_with_its_name() {
        match started("a failing step", "echo broken; exit 3").finish() {
            Err(Error::StepFailed { step, .. }) => assert_eq!(step, "a failing step"),
            other => panic!("expected the step to fail, got {other:?}"),
        }
    }
}
