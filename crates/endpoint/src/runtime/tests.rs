use std::sync::Arc;

use super::*;

#[test]
fn the_io_traits_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn Runtime>();
    assert_send_sync::<Arc<dyn Runtime>>();
    assert_send_sync::<dyn AsyncUdpSocket>();
    assert_send_sync::<Arc<dyn AsyncUdpSocket>>();
    fn assert_send<T: Send + ?Sized>() {}
    assert_send::<Pin<Box<dyn AsyncTimer>>>();
}
