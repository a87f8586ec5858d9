//! A tiny authoritative DNS server for tests: UDP and TCP on one
//! ephemeral 127.0.0.1 port, answering from a fixed table. Unknown names
//! get NXDOMAIN; known names without records of the asked type get an
//! empty NOERROR. A CNAME is answered alone (the client must chase it),
//! which is how loops and long chains reach the resolver. Also: SERVFAIL,
//! delayed answers, and huge answers (as many records as fit in a
//! message; UDP answers larger than the client's size are truncated).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX};
use hickory_resolver::proto::rr::{Name, RData, Record as Rr, RecordType};

#[derive(Debug, Clone)]
pub enum Record {
    Mx(String, u16, String),
    A(String, IpAddr),
    Aaaa(String, IpAddr),
    Cname(String, String),
    ServFail(String),
    Delay(String, Duration),
    /// `count` MX records with exchanges `h{i}.{name}` and preference
    /// `count - i`; each `h{i}.{name}` has A 10.0.x.y.
    ManyMx(String, usize),
    /// `count` A records 10.x.y.z for the name.
    ManyA(String, usize),
}

impl Record {
    pub fn mx(name: &str, pref: u16, exchange: &str) -> Record {
        Record::Mx(key(name), pref, exchange.to_string())
    }
    pub fn null_mx(name: &str) -> Record {
        Record::Mx(key(name), 0, ".".to_string())
    }
    pub fn a(name: &str, ip: &str) -> Record {
        Record::A(key(name), ip.parse().expect("test IPv4"))
    }
    pub fn aaaa(name: &str, ip: &str) -> Record {
        Record::Aaaa(key(name), ip.parse().expect("test IPv6"))
    }
    pub fn cname(name: &str, target: &str) -> Record {
        Record::Cname(key(name), target.to_string())
    }
    pub fn servfail(name: &str) -> Record {
        Record::ServFail(key(name))
    }
    pub fn delay(name: &str, d: Duration) -> Record {
        Record::Delay(key(name), d)
    }
    pub fn many_mx(name: &str, count: usize) -> Record {
        Record::ManyMx(key(name), count)
    }
    pub fn many_a(name: &str, count: usize) -> Record {
        Record::ManyA(key(name), count)
    }
    fn name(&self) -> &str {
        match self {
            Record::Mx(n, ..)
            | Record::A(n, _)
            | Record::Aaaa(n, _)
            | Record::Cname(n, _)
            | Record::ServFail(n)
            | Record::Delay(n, _)
            | Record::ManyMx(n, _)
            | Record::ManyA(n, _) => n,
        }
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn dname(s: &str) -> Name {
    let mut n = Name::from_ascii(s).expect("test name");
    n.set_fqdn(true);
    n
}

pub struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
}

impl DnsServer {
    pub fn start(records: Vec<Record>) -> DnsServer {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().expect("udp addr");
        let table = Arc::new(records);
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        tcp.set_nonblocking(true).expect("nonblocking");
        let (t, s, q) = (table.clone(), stop.clone(), queries.clone());
        thread::spawn(move || serve_udp(udp, t, s, q));
        let (t, s, q) = (table, stop.clone(), queries.clone());
        thread::spawn(move || serve_tcp(tcp, t, s, q));
        DnsServer {
            addr,
            stop,
            queries,
        }
    }

    /// The address for `dns_servers` (UDP and TCP share the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries received so far (UDP and TCP).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("udp addr").port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

fn serve_udp(sock: UdpSocket, table: Arc<Vec<Record>>, stop: Arc<AtomicBool>, n: Arc<AtomicUsize>) {
    let sock = Arc::new(sock);
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        n.fetch_add(1, Ordering::SeqCst);
        let (req, sock, table) = (buf[..len].to_vec(), sock.clone(), table.clone());
        // A thread per query, so a delayed answer does not hold up others.
        thread::spawn(move || {
            if let Some(out) = respond(&req, &table, true) {
                let _ = sock.send_to(&out, peer);
            }
        });
    }
}

fn serve_tcp(l: TcpListener, table: Arc<Vec<Record>>, stop: Arc<AtomicBool>, n: Arc<AtomicUsize>) {
    while !stop.load(Ordering::SeqCst) {
        let Ok((mut s, _)) = l.accept() else {
            thread::sleep(Duration::from_millis(20));
            continue;
        };
        let (table, n) = (table.clone(), n.clone());
        thread::spawn(move || {
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            loop {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).is_err() {
                    return;
                }
                let mut req = vec![0u8; u16::from_be_bytes(len) as usize];
                if s.read_exact(&mut req).is_err() {
                    return;
                }
                n.fetch_add(1, Ordering::SeqCst);
                let Some(out) = respond(&req, &table, false) else {
                    return;
                };
                let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&out);
                if s.write_all(&framed).is_err() {
                    return;
                }
            }
        });
    }
}

/// The wire answer to one query; `None` for garbage.
fn respond(req: &[u8], table: &[Record], udp: bool) -> Option<Vec<u8>> {
    let q = Message::from_vec(req).ok()?;
    let query = q.queries.first()?.clone();
    let name = key(&query.name().to_ascii());
    let qtype = query.query_type();
    let mut m = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.add_query(query.clone());
    if let Some(e) = q.edns.clone() {
        m.set_edns(e);
    }
    let here: Vec<&Record> = table.iter().filter(|r| r.name() == name).collect();
    for r in &here {
        if let Record::Delay(_, d) = r {
            thread::sleep(*d);
        }
    }
    let owner = query.name().clone();
    let rr = |data: RData| Rr::from_rdata(owner.clone(), 60, data);
    if here.iter().any(|r| matches!(r, Record::ServFail(_))) {
        m.metadata.response_code = ResponseCode::ServFail;
    } else if let Some(Record::Cname(_, t)) = here.iter().find(|r| matches!(r, Record::Cname(..))) {
        m.add_answer(rr(RData::CNAME(CNAME(dname(t)))));
    } else if let Some(ip) = many_mx_host(table, &name) {
        if qtype == RecordType::A {
            m.add_answer(rr(RData::A(A(ip))));
        }
    } else if here.is_empty() {
        m.metadata.response_code = ResponseCode::NXDomain;
    } else {
        for r in &here {
            match (r, qtype) {
                (Record::Mx(_, p, e), RecordType::MX) => {
                    m.add_answer(rr(RData::MX(MX::new(*p, dname(e)))));
                }
                (Record::A(_, IpAddr::V4(ip)), RecordType::A) => {
                    m.add_answer(rr(RData::A(A(*ip))));
                }
                (Record::Aaaa(_, IpAddr::V6(ip)), RecordType::AAAA) => {
                    m.add_answer(rr(RData::AAAA(AAAA(*ip))));
                }
                (Record::ManyMx(n, count), RecordType::MX) => {
                    for i in 0..*count {
                        let pref = (*count - i) as u16;
                        m.add_answer(rr(RData::MX(MX::new(pref, dname(&format!("h{i}.{n}"))))));
                    }
                }
                (Record::ManyA(_, count), RecordType::A) => {
                    for i in 0..*count as u32 {
                        m.add_answer(rr(RData::A(A(Ipv4Addr::from(0x0a00_0000 + i)))));
                    }
                }
                _ => {}
            }
        }
    }
    encode(m, q.max_payload(), udp)
}

/// `h{i}.{name}` of a ManyMx entry → its address.
fn many_mx_host(table: &[Record], name: &str) -> Option<Ipv4Addr> {
    table.iter().find_map(|r| match r {
        Record::ManyMx(n, count) => {
            let i: u32 = name
                .strip_suffix(&format!(".{n}"))?
                .strip_prefix('h')?
                .parse()
                .ok()?;
            ((i as usize) < *count).then(|| Ipv4Addr::from(0x0a00_0000 + i))
        }
        _ => None,
    })
}

/// Encodes, truncating (TC) over UDP past the client's size. Over TCP the
/// encoder stops at 64 KiB and counts only the records it wrote; the TC
/// bit it sets then is cleared, as the answer is a whole (shorter) one.
fn encode(m: Message, max_udp: u16, udp: bool) -> Option<Vec<u8>> {
    let mut bytes = m.to_vec().ok()?;
    if udp && bytes.len() > usize::from(max_udp.max(512)) {
        return m.truncate().to_vec().ok();
    }
    if !udp && !m.metadata.truncation {
        bytes[2] &= !0x02;
    }
    Some(bytes)
}
