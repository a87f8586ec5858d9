//! Where a session takes its messages from: the whole batch in order
//! ([`InOrder`], one connection), or a queue shared by the connections of
//! a parallel flush ([`Shared`], one [`Lane`] per connection).
//!
//! Guarantees: every index is handed out once, except one given back
//! (see [`Source::give_back`]), which is handed out once more; a message
//! is given back only while another connection still takes messages, and
//! the connection that gives one back takes no more (a server's `421` or
//! `452` is a limit, and the connection count shrinks to fit it). So the
//! number of give-backs is bounded by the number of connections.
//!
//! # Security
//! Pure bookkeeping over indices into the caller's batch; nothing from
//! the network reaches it but the decision that a reply was a limit.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// The messages of one session.
pub trait Source {
    /// The index of the next message to send; `None`: no more for this
    /// session (it then ends with QUIT).
    fn take(&self) -> Option<usize>;
    /// Message `m` met a limit of the server (`421`, `452`) before any of
    /// its text was sent. `true`: another connection will send it, so it
    /// must not be reported; `false`: report it as deferred, as usual.
    fn give_back(&self, m: usize) -> bool;
}

/// `0..len` in order; nothing is ever given back.
pub struct InOrder {
    next: Cell<usize>,
    len: usize,
}

impl InOrder {
    pub fn new(len: usize) -> InOrder {
        InOrder {
            next: Cell::new(0),
            len,
        }
    }
}

impl Source for InOrder {
    fn take(&self) -> Option<usize> {
        let m = self.next.get();
        (m < self.len).then(|| {
            self.next.set(m + 1);
            m
        })
    }

    fn give_back(&self, _: usize) -> bool {
        false
    }
}

/// The batch shared by the connections to one host, all driven by one
/// task (no locking: `Cell`s, never held across an await).
pub struct Shared {
    next: Cell<usize>,
    len: usize,
    back: RefCell<VecDeque<usize>>,
    /// Connections that still take messages.
    active: Cell<usize>,
    /// A message was given back: the server limits us.
    limited: Cell<bool>,
}

impl Shared {
    pub fn new(len: usize) -> Shared {
        Shared {
            next: Cell::new(0),
            len,
            back: RefCell::new(VecDeque::new()),
            active: Cell::new(0),
            limited: Cell::new(false),
        }
    }

    /// Only the messages `list` (indices below `len`), in that order.
    pub fn of(len: usize, list: Vec<usize>) -> Shared {
        let s = Shared::new(len);
        s.next.set(len);
        *s.back.borrow_mut() = list.into_iter().filter(|&m| m < len).collect();
        s
    }

    /// Some connection gave a message back (met a `421` or `452`).
    pub fn limited(&self) -> bool {
        self.limited.get()
    }

    /// A connection joins: it takes messages until it leaves.
    pub fn lane(&self) -> Lane<'_> {
        self.active.set(self.active.get() + 1);
        Lane {
            shared: self,
            retired: Cell::new(false),
        }
    }

    /// Messages no connection has taken yet (or given back).
    pub fn remaining(&self) -> usize {
        self.len - self.next.get() + self.back.borrow().len()
    }

    /// What is left once every connection ended: given back, or never
    /// taken.
    pub fn drain(&self) -> Vec<usize> {
        let mut left: Vec<usize> = self.back.borrow_mut().drain(..).collect();
        left.extend(self.next.get()..self.len);
        self.next.set(self.len);
        left
    }
}

/// One connection's view of a [`Shared`] queue.
pub struct Lane<'s> {
    shared: &'s Shared,
    retired: Cell<bool>,
}

impl Lane<'_> {
    /// The connection ended (whichever way): it takes nothing more.
    pub fn leave(&self) {
        if !self.retired.replace(true) {
            let s = self.shared;
            s.active.set(s.active.get().saturating_sub(1));
        }
    }
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Source for Lane<'_> {
    fn take(&self) -> Option<usize> {
        if self.retired.get() {
            return None;
        }
        let s = self.shared;
        if let Some(m) = s.back.borrow_mut().pop_front() {
            return Some(m);
        }
        let m = s.next.get();
        (m < s.len).then(|| {
            s.next.set(m + 1);
            m
        })
    }

    fn give_back(&self, m: usize) -> bool {
        let s = self.shared;
        let others = s
            .active
            .get()
            .saturating_sub(usize::from(!self.retired.get()));
        if others == 0 {
            return false;
        }
        self.leave();
        s.limited.set(true);
        s.back.borrow_mut().push_back(m);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_hands_out_each_once() {
        let s = InOrder::new(3);
        let got: Vec<_> = std::iter::from_fn(|| s.take()).collect();
        assert_eq!(got, [0, 1, 2]);
        assert!(!s.give_back(1));
    }

    #[test]
    fn shared_gives_back_only_to_other_connections() {
        let s = Shared::new(4);
        let (a, b) = (s.lane(), s.lane());
        assert_eq!((a.take(), b.take()), (Some(0), Some(1)));
        // b meets a limit: a takes its message before the untaken ones.
        assert!(!s.limited());
        assert!(b.give_back(1));
        assert!(s.limited());
        assert_eq!(b.take(), None, "a connection that gave back takes no more");
        assert_eq!(a.take(), Some(1));
        // a is now alone: its limits are reported, not given back.
        assert!(!a.give_back(1));
        // A retired connection may still give back in-flight messages
        // while a has not left.
        assert!(b.give_back(0));
        a.leave();
        assert!(!b.give_back(2));
        assert_eq!(s.remaining(), 3);
        assert_eq!(s.drain(), [0, 2, 3]);
        assert_eq!(s.remaining(), 0);
        let s = Shared::of(4, vec![3, 9, 1]);
        let a = s.lane();
        let got: Vec<_> = std::iter::from_fn(|| a.take()).collect();
        assert_eq!(got, [3, 1]);
    }
}
