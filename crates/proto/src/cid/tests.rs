use rand::{SeedableRng, rngs::StdRng};

use super::*;

#[test]
fn ids_up_to_twenty_bytes_are_accepted_and_longer_ones_refused() {
    assert_eq!(ConnectionId::new(&[7; 20]).unwrap().len(), 20);
    assert_eq!(ConnectionId::new(&[7; 21]), Err(ConnectionIdTooLong(21)));
    assert!(ConnectionId::new(&[]).unwrap().is_empty());
}

#[test]
fn equality_ignores_the_unused_tail() {
    let a = ConnectionId::new(&[1, 2, 3]).unwrap();
    let mut buf: &[u8] = &[1, 2, 3, 9, 9];
    let b = ConnectionId::decode(&mut buf, 3).unwrap();
    assert_eq!(a, b);
    assert_eq!(buf, &[9, 9]);
    assert_eq!(a.to_string(), "010203");
}

#[test]
fn decode_of_a_short_buffer_is_an_error() {
    let mut buf: &[u8] = &[1, 2];
    assert_eq!(ConnectionId::decode(&mut buf, 3), Err(UnexpectedEnd));
}

#[test]
fn random_generator_is_repeatable_for_a_seed_and_has_its_length() {
    let generator = RandomConnectionIdGenerator::new(12).unwrap();
    let a = generator.generate(&mut StdRng::seed_from_u64(7));
    let b = generator.generate(&mut StdRng::seed_from_u64(7));
    let c = generator.generate(&mut StdRng::seed_from_u64(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 12);
    assert_eq!(generator.cid_len(), 12);
    assert!(RandomConnectionIdGenerator::new(21).is_err());
}
