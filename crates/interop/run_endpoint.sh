#!/bin/bash
# Entry point of the tern-interop image, per the quic-interop-runner's
# endpoint contract. The binary reads ROLE, TESTCASE, REQUESTS,
# SSLKEYLOGFILE and QLOGDIR itself, and exits 127 for a test case it does
# not support, which the runner reports as unsupported.
set -e

# Route through the network simulator.
/setup.sh

case "$ROLE" in
client)
    # Wait until the simulator is ready before sending anything.
    /wait-for-it.sh sim:57832 -s -t 30
    exec /usr/local/bin/tern-interop
    ;;
server)
    exec /usr/local/bin/tern-interop
    ;;
*)
    echo "run_endpoint.sh: ROLE must be client or server, not '$ROLE'" >&2
    exit 1
    ;;
esac
