use super::*;

#[test]
fn ecn_codepoints_round_trip_through_quinn_udp() {
    for ecn in [EcnCodepoint::Ect0, EcnCodepoint::Ect1, EcnCodepoint::Ce] {
        let quinn = ecn_to_quinn(ecn);
        assert_eq!(quinn as u8, ecn.bits());
        assert_eq!(ecn_from_quinn(quinn), ecn);
    }
}
