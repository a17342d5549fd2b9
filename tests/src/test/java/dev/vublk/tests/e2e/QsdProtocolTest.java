package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;

/** The shared protocol tests against qemu-storage-daemon: proves the test frontend speaks the protocol as QEMU's backends expect. */
class QsdProtocolTest extends AbstractBlkProtocolTest {
    @Override
    BackendKind kind() {
        return BackendKind.QSD;
    }
}
