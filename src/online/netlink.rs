//! `online_detect = netlink`: online while the main routing table has a
//! default route (IPv4 or IPv6); its interface names the connection.
//!
//! Guarantees: the watcher subscribes to route and link events before it
//! reads the table, so no change between the two is missed; after each
//! burst of events it reads the whole table again (routes that vanish
//! with their interface are not always announced), so what it publishes
//! is always what the kernel has now. Among several default routes the
//! one with the lowest metric wins; routes marked `linkdown` or `dead`
//! do not count.
//!
//! # Security
//! Reads the routing table of our own network namespace over rtnetlink
//! (no privileges needed); nothing is changed. Interface names come from
//! the kernel.

use std::net::{Ipv4Addr, Ipv6Addr};

use futures_util::{Stream, StreamExt, TryStreamExt};
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use rtnetlink::{Handle, MulticastGroup, RouteMessageBuilder};
use tokio::sync::watch;

use super::link::{LinkError, Seen};

/// The current default route's interface, asked once.
pub fn current() -> Option<Seen> {
    super::link::ask("netlink", || async {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        let task = tokio::spawn(connection);
        let seen = read_table(&handle).await;
        task.abort();
        seen
    })
}

/// Publishes the default route's interface on `tx` at once and after
/// every change, until the netlink socket fails.
pub async fn watch(tx: &watch::Sender<Option<Seen>>) -> Result<(), LinkError> {
    let groups = [
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Link,
    ];
    let (connection, handle, mut events) =
        rtnetlink::new_multicast_connection(&groups).map_err(LinkError::Socket)?;
    let task = tokio::spawn(connection);
    let result = async {
        publish(tx, read_table(&handle).await?);
        tracing::info!("watching links (netlink)");
        while events.next().await.is_some() {
            // A burst (an address flush, a link going down) is read once.
            while events.try_recv().is_ok() {}
            publish(tx, read_table(&handle).await?);
        }
        Err(LinkError::Ended)
    }
    .await;
    task.abort();
    result
}

fn publish(tx: &watch::Sender<Option<Seen>>, seen: Option<Seen>) {
    tx.send_if_modified(|now| {
        let changed = *now != seen;
        *now = seen;
        changed
    });
}

/// The interface of the best default route of the main table, if any.
async fn read_table(handle: &Handle) -> Result<Option<Seen>, LinkError> {
    // One dump at a time: the kernel refuses a second one on the same
    // socket while the first runs (EBUSY), and `execute` sends at once.
    let v4 = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut all = routes(handle.route().get(v4).execute()).await?;
    let v6 = RouteMessageBuilder::<Ipv6Addr>::new().build();
    all.extend(routes(handle.route().get(v6).execute()).await?);
    let Some(index) = best_default(&all) else {
        return Ok(None);
    };
    // A route can outlive its interface by a moment: no name, no link.
    Ok(nix::net::if_::if_indextoname(index)
        .ok()
        .map(|name| Seen::Route {
            iface: name.to_string_lossy().into_owned(),
        }))
}

async fn routes(
    stream: impl Stream<Item = Result<RouteMessage, rtnetlink::Error>>,
) -> Result<Vec<RouteMessage>, LinkError> {
    Ok(stream.try_collect().await?)
}

/// The outgoing interface index of the default route with the lowest
/// metric in the main table, among those that can carry traffic.
fn best_default(routes: &[RouteMessage]) -> Option<u32> {
    routes
        .iter()
        .filter(|r| {
            r.header.destination_prefix_length == 0
                && r.header.kind == RouteType::Unicast
                && table(r) == u32::from(RouteHeader::RT_TABLE_MAIN)
                && !r
                    .header
                    .flags
                    .intersects(RouteFlags::Linkdown | RouteFlags::Dead)
        })
        .filter_map(|r| Some((metric(r), out_interface(r)?)))
        .min_by_key(|&(metric, _)| metric)
        .map(|(_, index)| index)
}

fn table(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table))
}

fn metric(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Priority(p) => Some(*p),
            _ => None,
        })
        .unwrap_or(0)
}

/// `RTA_OIF`, or the first next hop of a multipath route.
fn out_interface(r: &RouteMessage) -> Option<u32> {
    r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        RouteAttribute::MultiPath(hops) => hops.first().map(|h| h.interface_index),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: u8, oif: u32, metric: u32) -> RouteMessage {
        let mut r = RouteMessageBuilder::<Ipv4Addr>::new()
            .output_interface(oif)
            .priority(metric)
            .build();
        r.header.destination_prefix_length = prefix;
        r
    }

    #[test]
    fn the_default_route_with_the_lowest_metric() {
        assert_eq!(best_default(&[]), None);
        assert_eq!(best_default(&[route(24, 2, 0)]), None, "not a default");
        assert_eq!(
            best_default(&[route(0, 3, 600), route(24, 2, 0), route(0, 4, 100)]),
            Some(4)
        );
    }

    #[test]
    fn other_tables_dead_and_non_unicast_routes_do_not_count() {
        let mut local = route(0, 2, 0);
        local.header.table = 255;
        let mut down = route(0, 3, 0);
        down.header.flags = RouteFlags::Linkdown;
        let mut unreachable = route(0, 4, 0);
        unreachable.header.kind = RouteType::Unreachable;
        let mut big_table = route(0, 5, 0);
        big_table.attributes.push(RouteAttribute::Table(1000));
        assert_eq!(best_default(&[local, down, unreachable, big_table]), None);
        let mut main_by_attr = route(0, 6, 0);
        main_by_attr.header.table = 252;
        main_by_attr.attributes.push(RouteAttribute::Table(254));
        assert_eq!(best_default(&[main_by_attr]), Some(6));
    }
}
