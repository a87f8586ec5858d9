//! Test-only crash points (RELIABILITY.md §4).
//!
//! `crashpoint!("name")` kills the process with SIGKILL when the
//! environment says `MASQMAIL_CRASHPOINT=name` (or `name:N` for the N-th
//! time the point is reached). Debug builds only; release builds compile the
//! macro to nothing.

#[cfg(debug_assertions)]
pub fn hit(name: &str) {
    use std::sync::Mutex;
    use std::sync::OnceLock;
    static WANT: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static COUNT: Mutex<u32> = Mutex::new(0);
    let want = WANT.get_or_init(|| {
        let v = std::env::var("MASQMAIL_CRASHPOINT").ok()?;
        match v.split_once(':') {
            Some((n, k)) => Some((n.to_string(), k.parse().unwrap_or(1))),
            None => Some((v, 1)),
        }
    });
    if let Some((point, nth)) = want
        && point == name
    {
        let mut count = COUNT.lock().unwrap_or_else(|e| e.into_inner());
        *count += 1;
        if *count == *nth {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Marks a durable step where tests may kill the process.
#[macro_export]
macro_rules! crashpoint {
    ($name:expr) => {
        #[cfg(debug_assertions)]
        $crate::fs::crash::hit($name);
        #[cfg(not(debug_assertions))]
        let _ = $name;
    };
}
