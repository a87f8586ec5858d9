//! R26 deterministic fuzzing of the configuration readers, in place of
//! `cargo fuzz` (nightly, which CI lacks): a seeded xorshift PRNG written
//! here drives tens of thousands of inputs through the main config, route
//! and get parsers (and the alias file parser): real files (examples/,
//! dist/, a route file below) with random byte flips, truncations, quotes,
//! NUL, CR, backslashes, `=` and `#` inserted, lines duplicated, files
//! spliced, 1 MB lines, and plain random bytes. Guarantees checked: no
//! parser panics (a panic reports the seed and round that reproduce it);
//! every error names the file it was given, as `file:line: what` with a
//! line inside the input, or `file: what` only for the whole-file kinds
//! (a required option missing, options that exclude each other).
//!
//! The fixed proptest cases and property tests of the lexer and parsers
//! are in src/config/{main_tests,route_tests}.rs; this adds the volume
//! and the mutations of real files.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use masqmail::alias::AliasTable;
use masqmail::config::{Config, ConfigError, ConfigErrorKind, GetConf, Route};

/// Inputs per run (each goes through all four parsers).
const ROUNDS: u64 = 20_000;
/// Every this many rounds the input gets a 1 MB line.
const HUGE_EVERY: u64 = 1_000;
const SEED: u64 = 0x5eed_2026;

/// xorshift64* (Vigna): small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const ROUTE_FILE: &str = "# a route through the provider\n\
mail_host = \"mail.isp.example:587\"\nsmtp_port = 25\nconnect_error_fail = yes\n\
helo_name = \"me.example\"\ndo_correct_helo = no\ninstant_helo = true\ndo_pipelining = on\n\
auth_name = \"login\"\nauth_login = \"joe\"\nauth_secret = \"s3cret\"\n\
wrapper = \"/usr/bin/ssh -q relay nc localhost 25\"\n\
pipe_fromline = false\npipe_fromhack = no\nlast_route = yes\ntls = starttls\n\
tls_verify = yes\ntls_ca_file = \"/etc/ssl/ca.pem\"\n";

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<Vec<u8>> = [
        "examples/masqmail.conf",
        "dist/masqmail.conf",
        "examples/isp.get",
        "examples/aliases",
    ]
    .iter()
    .map(|f| std::fs::read(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
    .collect();
    v.push(ROUTE_FILE.as_bytes().to_vec());
    v
}

const INSERTS: &[&[u8]] = &[
    b"\"", b"\0", b"\r", b"\r\n", b"\n", b"\\", b"=", b"#", b"\"\"", b"\t", b";", b" = ", b"\xff",
    b"\xc3", b"\\\"", b"=\"", b"\n=\n", b"a = \"",
];

/// One hostile input derived from the seed files.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], round: u64) -> Vec<u8> {
    let mut b = if rng.below(20) == 0 {
        (0..rng.below(2048)).map(|_| rng.next() as u8).collect()
    } else {
        seeds[rng.below(seeds.len())].clone()
    };
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(b.len() + 1);
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => b.truncate(at),
            3 | 4 => {
                let s = INSERTS[rng.below(INSERTS.len())];
                b.splice(at..at, s.iter().copied());
            }
            5 => {
                // Duplicate a slice (a repeated option, a half line).
                let end = (at + rng.below(200)).min(b.len());
                let piece = b[at..end].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, piece);
            }
            6 => {
                // Splice in part of another seed file.
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(300)).min(other.len());
                b.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b.remove(i);
                }
            }
        }
    }
    if round % HUGE_EVERY == HUGE_EVERY - 1 {
        let at = rng.below(b.len() + 1);
        let mut line = if rng.below(2) == 0 {
            b"\nhost_name = \"".to_vec()
        } else {
            b"\n".to_vec()
        };
        line.extend(std::iter::repeat_n(b'a' + (round % 26) as u8, 1 << 20));
        line.push(b'\n');
        b.splice(at..at, line);
    }
    b
}

/// The error's shape: the given file, and a line inside the input (or 0
/// for a whole-file error of a whole-file kind).
fn check_error(e: &ConfigError, file: &Path, input: &[u8], what: &str) -> Result<(), String> {
    let text = e.to_string();
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    if e.file != file {
        return Err(format!("{what}: error names {:?}: {text}", e.file));
    }
    if e.line == 0 {
        let whole_file = matches!(
            e.kind,
            ConfigErrorKind::MissingRequired { .. } | ConfigErrorKind::Invalid { .. }
        );
        if !whole_file || !text.starts_with(&format!("{}: ", file.display())) {
            return Err(format!("{what}: error without a line: {text}"));
        }
        return Ok(());
    }
    if e.line > lines {
        return Err(format!("{what}: line {} of {lines}: {text}", e.line));
    }
    let prefix = format!("{}:{}: ", file.display(), e.line);
    if !text.starts_with(&prefix) || text.len() == prefix.len() {
        return Err(format!("{what}: not `file:line: what`: {text}"));
    }
    Ok(())
}

/// All parsers over one input; `Err` describes the first broken promise.
fn round(input: &[u8]) -> Result<(), String> {
    let cfg = Config::with_host_name("h.example");
    let (mc, rt, gt, al) = (
        Path::new("/etc/masqmail/masqmail.conf"),
        Path::new("/etc/masqmail/isp.route"),
        Path::new("/etc/masqmail/isp.get"),
        Path::new("/etc/aliases"),
    );
    let run = |what: &str, f: &mut dyn FnMut() -> Result<(), String>| {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(format!("{what} panicked")))
    };
    run("masqmail.conf", &mut || match Config::parse(input, mc) {
        Ok(_) => Ok(()),
        Err(e) => check_error(&e, mc, input, "masqmail.conf"),
    })?;
    run("route", &mut || match Route::parse(input, rt, &cfg) {
        Ok(_) => Ok(()),
        Err(e) => check_error(&e, rt, input, "route"),
    })?;
    run("get", &mut || match GetConf::parse(input, gt, &cfg) {
        Ok(_) => Ok(()),
        Err(e) => check_error(&e, gt, input, "get"),
    })?;
    run("aliases", &mut || {
        let _ = AliasTable::parse(input, al, false);
        Ok(())
    })
}

/// R26: 20 000 mutated and random config, route, get and alias files: never a panic, every error `file:line: what` (or `file: what` for a whole-file error).
#[test]
fn r26_mutated_config_files_never_panic_and_errors_name_file_and_line() {
    // Panics are caught and reported with their round; keep the default
    // hook from printing each.
    std::panic::set_hook(Box::new(|_| {}));
    let seeds = seeds();
    let mut rng = Rng(SEED);
    let mut failures = Vec::new();
    let mut errors = 0u64;
    for r in 0..ROUNDS {
        let input = mutate(&mut rng, &seeds, r);
        if Config::parse(&input, Path::new("x")).is_err() {
            errors += 1;
        }
        if let Err(why) = round(&input) {
            let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
            failures.push(format!(
                "seed {SEED:#x} round {r}: {why}\n  input: {shown:?}"
            ));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The mutations must reach both outcomes, or the test proves little.
    assert!(
        errors > ROUNDS / 10 && errors < ROUNDS,
        "{errors} of {ROUNDS} main configs refused"
    );
}

/// The seed files themselves parse (so the mutations start from valid
/// input and the errors above come from the mutations).
#[test]
fn r26_seed_files_are_valid() {
    let cfg = Config::with_host_name("h.example");
    let s = seeds();
    Config::parse(&s[0], Path::new("examples/masqmail.conf")).unwrap();
    Config::parse(&s[1], Path::new("dist/masqmail.conf")).unwrap();
    GetConf::parse(&s[2], Path::new("examples/isp.get"), &cfg).unwrap();
    assert!(
        !AliasTable::parse(&s[3], Path::new("examples/aliases"), false)
            .entries
            .is_empty()
    );
    Route::parse(&s[4], Path::new("isp.route"), &cfg).unwrap();
}
