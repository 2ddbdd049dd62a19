//! The ready-made configurations resume: the client endpoint's
//! connections share one ticket store, and the server keeps sessions for
//! resumption and 0-RTT.

use tern::proto::EarlyData;

use crate::{
    on_both_runtimes,
    support::{Rt, connected, pair, timeout},
};

on_both_runtimes!(a_second_connection_of_an_endpoint_resumes_with_0rtt_allowed);

async fn a_second_connection_of_an_endpoint_resumes_with_0rtt_allowed(rt: Rt) {
    let pair = pair(&rt);
    let (first, first_served) = connected(&rt, &pair).await;
    let info = timeout(&rt, first.handshake_info()).await.unwrap();
    assert!(!info.resumed());
    // The tickets arrive after the handshake, in 1-RTT.
    rt.sleep(std::time::Duration::from_millis(200)).await;
    drop((first, first_served));
    let (second, served) = connected(&rt, &pair).await;
    let client = timeout(&rt, second.handshake_info()).await.unwrap();
    let server = timeout(&rt, served.handshake_info()).await.unwrap();
    assert!(client.resumed() && server.resumed());
    // The ticket allowed 0-RTT: the server's rustls accepted early data,
    // which it does only with max_early_data_size set and stateful tickets.
    assert_eq!(server.early_data(), EarlyData::Accepted);
}
