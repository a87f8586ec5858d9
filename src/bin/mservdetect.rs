//! `mservdetect HOST PORT`: asks a masqdialer server whether the link is
//! up; prints the connection name and exits 0 when it is, exits 1 without
//! output otherwise (delivery.md §17). For `online_query`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let prog = args.first().map_or("mservdetect", String::as_str);
    let (Some(host), Some(port), None) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: {prog} HOST PORT");
        std::process::exit(1);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("{prog}: invalid port '{port}'");
        std::process::exit(1);
    };
    match masqmail::online::mserver::query(host, port, masqmail::online::mserver::TIMEOUT) {
        Ok(Some(name)) => println!("{name}"),
        Ok(None) => std::process::exit(1),
        Err(e) => {
            eprintln!("{prog}: {host}:{port}: {e}");
            std::process::exit(1);
        }
    }
}
