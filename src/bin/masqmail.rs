//! The masqmail binary (also called as sendmail, mailq, newaliases, runq,
//! mailrm, smtpd, rmail): everything happens in [`masqmail::mode`].

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "masqmail".into());
    let code = masqmail::mode::main(argv0, args.collect());
    std::process::exit(code);
}
