package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;

/** The shared protocol tests against our backend, in this JVM. */
class OurBackendProtocolTest extends AbstractBlkProtocolTest {
    @Override
    BackendKind kind() {
        return BackendKind.OURS_IN_PROCESS;
    }
}
